package harness

import (
	"fmt"
	"os/exec"
	"strings"

	"github.com/forkmq/forkmq/bench/internal/broker"
	"github.com/forkmq/forkmq/bench/internal/report"
)

// checkTree records the commit measured and returns an error when it is
// not what runs: uncommitted changes in the tree (results folders aside),
// or a broker binary built from another revision.
func checkTree(t *report.Trust, repo, binary string) error {
	git := func(args ...string) (string, error) {
		out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).Output()
		return strings.TrimSpace(string(out)), err
	}
	head, err := git("rev-parse", "HEAD")
	if err != nil {
		t.Commit = "unknown"
		return fmt.Errorf("%s is not a git checkout: the commit measured is unknown", repo)
	}
	t.Commit = head
	t.Subject, _ = git("log", "-1", "--format=%s")
	status, err := git("status", "--porcelain", "--", ".", ":(exclude)bench/results")
	if err != nil {
		return fmt.Errorf("git status: %w", err)
	}
	for _, l := range strings.Split(status, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			t.Dirty = append(t.Dirty, l)
		}
	}
	rev, modified := broker.BuildRevision(binary)
	t.BinaryRevision = rev
	if modified {
		t.BinaryRevision += "+modified"
	}
	switch {
	case len(t.Dirty) > 0:
		return fmt.Errorf("the tree has %d uncommitted change(s) (first: %s): the figures would describe no commit", len(t.Dirty), t.Dirty[0])
	case rev == "":
		return fmt.Errorf("%s carries no VCS revision: cannot tell what it was built from", binary)
	case rev != head || modified:
		return fmt.Errorf("%s was built from %s, the tree is at %s: rebuild it (make bench does)", binary, t.BinaryRevision, head)
	}
	return nil
}
