package spool

import (
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
