package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/forkmq/forkmq/bench/internal/broker"
	"github.com/forkmq/forkmq/bench/internal/report"
)

// gitRepo makes a repository with one commit and a bin/broker built, by
// the revision file, from it.
func gitRepo(t *testing.T) (dir, head string) {
	t.Helper()
	dir = t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q")
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("bin/\n"), 0o644)
	run("add", ".")
	run("commit", "-q", "-m", "the measured commit")
	head = run("rev-parse", "HEAD")
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	bin := filepath.Join(dir, "bin", "broker")
	os.WriteFile(bin, []byte("binary"), 0o755)
	old := time.Now().Add(-time.Minute)
	os.Chtimes(bin, old, old)
	os.WriteFile(filepath.Join(dir, "bin", broker.RevisionFile), []byte(head+"\n"), 0o644)
	return dir, head
}

func TestCheckTree(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir, head := gitRepo(t)
	bin := filepath.Join(dir, "bin", "broker")
	var tr report.Trust
	if err := checkTree(&tr, dir, bin); err != nil {
		t.Fatalf("a clean tree and its own build: %v", err)
	}
	if tr.Commit != head || tr.Subject != "the measured commit" || tr.BinaryRevision != head || len(tr.Dirty) != 0 {
		t.Fatalf("trust = %+v", tr)
	}

	// Results folders do not make the tree dirty; a changed source file does.
	os.MkdirAll(filepath.Join(dir, "bench", "results", "x"), 0o755)
	os.WriteFile(filepath.Join(dir, "bench", "results", "x", "report.md"), []byte("r"), 0o644)
	if err := checkTree(&report.Trust{}, dir, bin); err != nil {
		t.Fatalf("a results folder made the tree dirty: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main // changed\n"), 0o644)
	tr = report.Trust{}
	if err := checkTree(&tr, dir, bin); err == nil || !strings.Contains(err.Error(), "uncommitted") || len(tr.Dirty) != 1 {
		t.Fatalf("a changed file: err %v, dirty %v", err, tr.Dirty)
	}
	exec.Command("git", "-C", dir, "checkout", "-q", "main.go").Run()

	// A binary built from another commit.
	os.WriteFile(filepath.Join(dir, "bin", broker.RevisionFile), []byte("ffff\n"), 0o644)
	if err := checkTree(&report.Trust{}, dir, bin); err == nil || !strings.Contains(err.Error(), "was built from ffff") {
		t.Fatalf("a stale binary: %v", err)
	}
	if err := checkTree(&report.Trust{}, t.TempDir(), bin); err == nil {
		t.Fatal("a directory that is no git checkout must not pass")
	}
}

func TestSaturated(t *testing.T) {
	h := &runner{cfg: Config{GeneratorCPUs: 1}}
	for _, tc := range []struct {
		m    map[string]float64
		want string
	}{
		{map[string]float64{"gen_cpu_pct": 45}, ""},
		{map[string]float64{"gen_cpu_pct": 95}, "load generator saturated: 95% of its 1 CPU(s)"},
		{map[string]float64{"tool_cpu_pct": 99}, "mosquitto_pub/mosquitto_sub saturated: 99% of its 1 CPU(s)"},
		{nil, ""},
	} {
		if got := h.saturated(tc.m); got != tc.want {
			t.Errorf("saturated(%v) = %q, want %q", tc.m, got, tc.want)
		}
	}
	h.cfg.GeneratorCPUs = 2 // two CPUs: 95% of one core is half the generator's
	if got := h.saturated(map[string]float64{"gen_cpu_pct": 95}); got != "" {
		t.Errorf("95%% of two CPUs flagged: %q", got)
	}
}
