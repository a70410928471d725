package admission

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// DropPrivileges makes the broker (and so every worker it starts) run as
// the named user: it hands the state directory to that user, then changes
// group and user ids. The supervisor calls it after binding the listening
// socket, so a port below 1024 can still be served.
func DropPrivileges(name, stateDir string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("-user %s: %w", name, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("-user %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return fmt.Errorf("-user %s: gid %q: %w", name, u.Gid, err)
	}
	if os.Getuid() != 0 {
		if os.Getuid() == uid {
			return nil
		}
		return fmt.Errorf("-user %s: only root can change user", name)
	}
	err = filepath.WalkDir(stateDir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
	if err != nil {
		return fmt.Errorf("-user %s: hand over the state directory: %w", name, err)
	}
	// Go applies these to every thread of the process (Linux, Go ≥ 1.16).
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("-user %s: setgroups: %w", name, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("-user %s: setgid: %w", name, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("-user %s: setuid: %w", name, err)
	}
	return nil
}
