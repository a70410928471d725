package spool

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestItemIsDeliveredOncePerQueueAndLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"q1", "q2"} {
		if err := s.AddQueue(q); err != nil {
			t.Fatal(err)
		}
	}
	body := []byte("a large publication")
	it, err := s.Write(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"q1", "q2"} {
		if err := it.LinkTo(q); err != nil {
			t.Fatal(err)
		}
	}
	it.Release()
	for _, q := range []string{"q1", "q2"} {
		f, err := s.Take(q, it.Name())
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(f)
		f.Close()
		if string(got) != string(body) {
			t.Fatalf("%s read %q", q, got)
		}
		if _, err := s.Take(q, it.Name()); err == nil {
			t.Fatalf("%s: second Take succeeded", q)
		}
	}
	for _, q := range []string{"q1", "q2"} {
		if err := s.RemoveQueue(q); err != nil {
			t.Fatal(err)
		}
	}
	var left []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) != 0 {
		t.Fatalf("files left in the spool: %v", left)
	}
}

func TestTakeRefusesPathsOutsideTheQueue(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../x", "..", ".", "a/b", "/etc/passwd"} {
		if _, err := s.Take("q", name); err == nil {
			t.Errorf("Take(%q) succeeded", name)
		}
	}
}

func TestUnlinkTakesBackACopy(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.AddQueue("q")
	it, err := s.Write([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := it.LinkTo("q"); err != nil {
		t.Fatal(err)
	}
	it.Unlink("q")
	it.Release()
	if _, err := s.Take("q", it.Name()); err == nil {
		t.Fatal("copy still there after Unlink")
	}
}

// TestTakeSmall: a copy of at most the limit comes back as its bytes, a
// larger one as its open file; either way the copy's name is gone at once,
// and a second take of it fails.
func TestTakeSmall(t *testing.T) {
	tests := []struct {
		name     string
		size     int
		limit    int64
		wantFile bool
	}{
		{"empty", 0, 64, false},
		{"below the limit", 63, 64, false},
		{"at the limit", 64, 64, false},
		{"above the limit", 65, 64, true},
		{"16 KiB under the deliverer's limit", 16 << 10, 64 << 10, false},
		{"Take's limit: always the file", 1, -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := withQueue(t, "q")
			body := make([]byte, tt.size)
			for i := range body {
				body[i] = byte(i * 7)
			}
			it, err := s.Write(body)
			if err != nil {
				t.Fatal(err)
			}
			if err := it.LinkTo("q"); err != nil {
				t.Fatal(err)
			}
			it.Release()
			b, f, err := s.TakeSmall("q", it.Name(), tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if (f != nil) != tt.wantFile {
				t.Fatalf("TakeSmall gave bytes %v and file %v; want the file: %v", b != nil, f != nil, tt.wantFile)
			}
			if f != nil {
				b, err = io.ReadAll(f)
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			if string(b) != string(body) {
				t.Errorf("took %d bytes, not the %d written", len(b), len(body))
			}
			if entries, _ := os.ReadDir(s.QueueDir("q")); len(entries) != 0 {
				t.Errorf("the copy is still in the queue's folder: %v", entries)
			}
			if _, _, err := s.TakeSmall("q", it.Name(), tt.limit); err == nil {
				t.Error("second take succeeded")
			}
		})
	}
}

// TestRemoveQueue: whatever a queue's folder holds, or if it was never
// made (its client subscribed to nothing), RemoveQueue leaves no folder;
// a copy linked for the queue afterwards finds none (os.ErrNotExist), and
// no router makes it again (only the queue's own router makes it).
func TestRemoveQueue(t *testing.T) {
	for _, c := range []struct {
		name string
		fill func(t *testing.T, s *Spool, q string)
	}{
		{"never made", func(*testing.T, *Spool, string) {}},
		{"empty", func(t *testing.T, s *Spool, q string) { mustDo(t, s.AddQueue(q)) }},
		{"a copy waiting", func(t *testing.T, s *Spool, q string) {
			mustDo(t, s.AddQueue(q))
			it, err := s.Write([]byte("copy"))
			mustDo(t, err)
			mustDo(t, it.LinkTo(q))
			it.Release()
		}},
		{"a segment", func(t *testing.T, s *Spool, q string) {
			mustDo(t, s.AddQueue(q))
			_, err := s.Segments().Append(q, []byte("head"), []byte("body"))
			mustDo(t, err)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(t.TempDir())
			mustDo(t, err)
			c.fill(t, s, "q")
			mustDo(t, s.RemoveQueue("q"))
			if _, err := os.Stat(s.QueueDir("q")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the queue's folder outlived RemoveQueue: %v", err)
			}
			it, err := s.Write([]byte("late"))
			mustDo(t, err)
			defer it.Release()
			if err := it.LinkTo("q"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a copy linked after RemoveQueue: %v, want os.ErrNotExist", err)
			}
		})
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
