package supervisor

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/forkmq/forkmq/internal/options"
)

// Privilege separation with -worker-uids FIRST-LAST (see
// docs/ARCHITECTURE.md, "Privilege separation"): the supervisor stays root
// — it binds, spawns, and unlinks what any worker made — and every worker
// runs under one uid of the range, group FIRST. A client's two workers
// share a uid; the queues a router makes are charged to its uid's
// RLIMIT_MSGQUEUE budget, so n uids hold n budgets. Connection queues are
// 0620 (the owner reads, the group routes to them), so a worker reads no
// queue of another uid, and workers of different uids cannot signal each
// other. The state directory is shared by the group: 0770 folders with the
// setgid bit, so every file made in them belongs to group FIRST, and a
// umask of 007.

// workerGroups returns the pool's groups: one per uid of -worker-uids, or
// one with the supervisor's own ids.
func workerGroups(cfg options.Options) ([]*group, error) {
	if cfg.WorkerUIDs == "" {
		return []*group{{}}, nil
	}
	first, last, err := options.ParseUIDRange(cfg.WorkerUIDs)
	if err != nil {
		return nil, fmt.Errorf("-worker-uids: %w", err)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("-worker-uids %s: only root can run workers under other uids", cfg.WorkerUIDs)
	}
	var groups []*group
	for uid := first; uid <= last; uid++ {
		groups = append(groups, &group{creds: &syscall.Credential{Uid: uid, Gid: first, Groups: []uint32{}}})
	}
	return groups, nil
}

// shareStateDir gives the state directory to group gid: every folder 0770
// with the setgid bit, every file 0660.
func shareStateDir(root string, gid uint32) error {
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, 0, int(gid)); err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		mode := os.FileMode(0o660)
		if d.IsDir() {
			mode = 0o770 | os.ModeSetgid
		}
		return os.Chmod(path, mode)
	})
	if err != nil {
		return fmt.Errorf("-worker-uids: share the state directory: %w", err)
	}
	return nil
}
