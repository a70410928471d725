//go:build linux

package queue

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// mqueueMagic is the f_type statfs reports for the mqueue filesystem.
const mqueueMagic = 0x19800202

func isMqueueFS(dir string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false, os.NewSyscallError("statfs "+dir, err)
	}
	return uint64(st.Type) == mqueueMagic, nil
}

// Mount mounts the mqueue filesystem of the caller's IPC namespace on dir,
// unless one is mounted there already. It needs CAP_SYS_ADMIN.
func Mount(dir string) error {
	ok, err := isMqueueFS(dir)
	if err != nil {
		return fmt.Errorf("queue: mount: %w", err)
	}
	if ok {
		return nil
	}
	if err := unix.Mount("mqueue", dir, "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("queue: mount mqueue on %s: %w", dir, os.NewSyscallError("mount", err))
	}
	return nil
}

// Unmount undoes Mount.
func Unmount(dir string) error {
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("queue: unmount %s: %w", dir, os.NewSyscallError("umount2", err))
	}
	return nil
}

// List returns the names of the queues whose names start with prefix, read
// from the mqueue filesystem mounted on mountDir (see Mount).
func List(mountDir, prefix string) ([]string, error) {
	ok, err := isMqueueFS(mountDir)
	if err != nil {
		return nil, fmt.Errorf("queue: list: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("queue: list: %s is not an mqueue mount (see queue.Mount)", mountDir)
	}
	entries, err := os.ReadDir(mountDir)
	if err != nil {
		return nil, fmt.Errorf("queue: list: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
