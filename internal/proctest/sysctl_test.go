package proctest

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRestoreFiles: a value changed after the snapshot is written back, an
// unchanged one is not rewritten, and one that did not exist is left alone.
func TestRestoreFiles(t *testing.T) {
	dir := t.TempDir()
	raised := filepath.Join(dir, "queues_max")
	same := filepath.Join(dir, "pid_max")
	missing := filepath.Join(dir, "threads-max")
	os.WriteFile(raised, []byte("256\n"), 0o644)
	os.WriteFile(same, []byte("32768\n"), 0o644)
	restore := restoreFiles([]string{raised, same, missing})
	os.WriteFile(raised, []byte("345\n"), 0o644)
	os.Chmod(same, 0o444) // a write would fail (as any user but root): it must not be tried
	restore()
	for _, c := range []struct {
		path, want string
	}{{raised, "256\n"}, {same, "32768\n"}} {
		if b, _ := os.ReadFile(c.path); string(b) != c.want {
			t.Errorf("%s: %q, want %q", filepath.Base(c.path), b, c.want)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("a file that did not exist was created")
	}
}
