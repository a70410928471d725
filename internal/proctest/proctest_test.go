package proctest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	Main(m, Helpers{
		"echo": func(args []string) error {
			_, err := os.Stdout.WriteString(strings.Join(args, "|"))
			return err
		},
		"fail": func([]string) error { return errors.New("asked to fail") },
	})
}

// TestCommand runs the test binary as helpers: arguments arrive whole, a
// helper's error is its exit status and message, an unknown helper fails.
func TestCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"a b", "", "x=\"y\"\n", "é"}
	out, err := Command(ctx, "echo", args...).Output()
	if err != nil || string(out) != strings.Join(args, "|") {
		t.Errorf("echo: %q, %v", out, err)
	}
	for _, name := range []string{"fail", "nobody"} {
		out, err := Command(ctx, name).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "helper "+name) {
			t.Errorf("%s: %q, %v; want a failure naming the helper", name, out, err)
		}
	}
}

type closer struct{ closed *bool }

func (c closer) Close() error { *c.closed = true; return nil }

// TestDirAndOpen: Dir is fresh and removed after the test; Open's value is
// closed after it.
func TestDirAndOpen(t *testing.T) {
	var dir string
	closed := false
	t.Run("inner", func(t *testing.T) {
		dir = Dir(t, "state")
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Dir exists already: %v", err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		Open(t, func(path string) (closer, error) { return closer{&closed}, nil }, dir)
	})
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Dir's parent left after the test: %v", err)
	}
	if !closed {
		t.Error("Open's value not closed after the test")
	}
}
