package spool

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// held is how many bytes of memory or disk the queue's segment holds.
func held(t *testing.T, s *Spool, queue string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(s.QueueDir(queue), SegmentFile), &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// withQueue is a spool in a temporary folder with a folder for queue.
func withQueue(t *testing.T, queue string) *Spool {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddQueue(queue); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSegmentCopies: copies of any size come back byte for byte from where
// Append put them, each on pages of its own, and the segment holds nothing
// once every copy is taken.
func TestSegmentCopies(t *testing.T) {
	s := withQueue(t, "q")
	g := s.Segments()
	defer g.Close()
	page := int64(os.Getpagesize())
	sizes := []int{0, 1, 4095, 4096, 4097, 16<<10 + 20, 64 << 10}
	type ref struct{ off, n int64 }
	var refs []ref
	for i, n := range sizes {
		off, err := g.Append("q", []byte{byte(i + 1)}[:min(n, 1)], bytes.Repeat([]byte{byte(i + 1)}, max(n-1, 0)))
		if err != nil {
			t.Fatal(err)
		}
		if off%page != 0 {
			t.Errorf("copy %d starts at %d, not on a page", i, off)
		}
		if len(refs) > 0 && off <= refs[len(refs)-1].off {
			t.Errorf("copy %d at %d, not after the one before at %d", i, off, refs[len(refs)-1].off)
		}
		refs = append(refs, ref{off, int64(n)})
	}
	r, err := s.OpenSegment("q")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if held(t, s, "q") == 0 {
		t.Fatal("the segment holds nothing before any copy is taken")
	}
	for i, c := range refs {
		b, err := r.Take(c.off, c.n)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, bytes.Repeat([]byte{byte(i + 1)}, sizes[i])) {
			t.Errorf("copy %d: %d bytes, not the %d written", i, len(b), sizes[i])
		}
	}
	if h := held(t, s, "q"); h != 0 {
		t.Errorf("the segment holds %d bytes after every copy was taken", h)
	}
}

// TestSegmentAppendersInterleave: routers appending at once through
// descriptors of their own never overlap; each copy reads back whole.
func TestSegmentAppendersInterleave(t *testing.T) {
	s := withQueue(t, "q")
	const routers, copies = 4, 50
	offs := make([][]int64, routers)
	var wg sync.WaitGroup
	for i := range routers {
		wg.Go(func() {
			g := s.Segments()
			defer g.Close()
			for range copies {
				off, err := g.Append("q", nil, bytes.Repeat([]byte{byte(i + 1)}, 5000))
				if err != nil {
					t.Error(err)
					return
				}
				offs[i] = append(offs[i], off)
			}
		})
	}
	wg.Wait()
	r, err := s.OpenSegment("q")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seen := map[int64]bool{}
	for i, list := range offs {
		for _, off := range list {
			if seen[off] {
				t.Fatalf("two copies at %d", off)
			}
			seen[off] = true
			b, err := r.Take(off, 5000)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, bytes.Repeat([]byte{byte(i + 1)}, 5000)) {
				t.Fatalf("router %d's copy at %d was overwritten", i, off)
			}
		}
	}
	if h := held(t, s, "q"); h != 0 {
		t.Errorf("the segment holds %d bytes after every copy was taken", h)
	}
}

// TestSegmentOfADepartedQueue: a queue whose folder is gone refuses the
// copy with os.ErrNotExist (the router forgets the subscriber), and
// removing the folder removes the segment with what it held.
func TestSegmentOfADepartedQueue(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := s.Segments()
	defer g.Close()
	if _, err := g.Append("gone", nil, []byte("x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Append to a queue without a folder: %v, want os.ErrNotExist", err)
	}
	if err := s.AddQueue("q"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Append("q", []byte("never "), []byte("taken")); err != nil {
		t.Fatal(err)
	}
	g.Forget("q")
	if err := s.RemoveQueue("q"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.QueueDir("q")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the queue's folder outlived RemoveQueue: %v", err)
	}
}

// TestSegmentGrowsNoFurther: past its end a segment takes the copy that
// crossed it and refuses the next ones with ErrSegmentFull (the router
// sends them as files), until the router forgets the queue.
func TestSegmentGrowsNoFurther(t *testing.T) {
	s := withQueue(t, "q")
	g := s.Segments()
	defer g.Close()
	g.end = 3 * int64(os.Getpagesize())
	var offs []int64
	for range 3 {
		off, err := g.Append("q", nil, []byte("copy"))
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, off)
	}
	if _, err := g.Append("q", nil, []byte("copy")); err != nil {
		t.Fatalf("the copy that reaches the end: %v", err)
	}
	if _, err := g.Append("q", nil, []byte("copy")); !errors.Is(err, ErrSegmentFull) {
		t.Fatalf("a copy past the end: %v, want ErrSegmentFull", err)
	}
	r, err := s.OpenSegment("q")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, off := range offs {
		if b, err := r.Take(off, 4); err != nil || string(b) != "copy" {
			t.Fatalf("copy at %d: %q, %v", off, b, err)
		}
	}
	g.Forget("q")
	if _, err := g.Append("q", nil, []byte("copy")); !errors.Is(err, ErrSegmentFull) && err != nil {
		t.Fatalf("after Forget: %v", err)
	}
}
