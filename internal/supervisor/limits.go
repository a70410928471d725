package supervisor

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Every client costs two worker processes, their threads, a POSIX queue and
// descriptors in the supervisor. The machine-wide limits that bound them
// are sysctls; a broker started as root raises the ones below what
// -max-clients needs, with a log line for each, and otherwise says which
// one to raise (see docs/ARCHITECTURE.md, "5,000 clients", and
// dist/sysctl.d/90-forkmq.conf).

// threadsPerWorker is what a worker process holds in threads, each a pid to
// the kernel: measured 5–7 for a static worker with GOMAXPROCS=1 (the main
// thread, sysmon, the poller's, and threads left from blocking syscalls).
const threadsPerWorker = 7

// sysctl is one kernel limit the broker may need raised.
type sysctl struct {
	name string // as sysctl(8) names it
	path string
	need int64
}

// kernelLimits are the sysctls -max-clients needs.
func (s *Supervisor) kernelLimits() []sysctl {
	clients := int64(s.cfg.MaxClients)
	workers := 2*clients + 2*int64(s.cfg.PoolMaxSpare) + 16
	return []sysctl{
		// A queue for every client, and for persistent sessions a few more.
		{"fs.mqueue.queues_max", "/proc/sys/fs/mqueue/queues_max", clients + clients/8 + 64},
		// Threads count as pids; the rest of the machine needs some too.
		{"kernel.pid_max", "/proc/sys/kernel/pid_max", workers*threadsPerWorker + 16384},
		{"kernel.threads-max", "/proc/sys/kernel/threads-max", workers*threadsPerWorker + 16384},
	}
}

// raiseKernelLimits raises, when running as root, each sysctl below what
// -max-clients needs, and logs it; otherwise it logs a warning naming the
// sysctl. Clients past a limit are refused one by one (CONNACK 3) with a
// log line naming it, so a limit too low never stops the broker.
func (s *Supervisor) raiseKernelLimits() {
	for _, l := range s.kernelLimits() {
		have, err := readSysctl(l.path)
		if err != nil || have >= l.need {
			continue
		}
		if os.Geteuid() == 0 {
			if err := os.WriteFile(l.path, []byte(strconv.FormatInt(l.need, 10)), 0o644); err == nil {
				s.log.Info().Str("sysctl", l.name).Int64("from", have).Int64("to", l.need).Int("max_clients", s.cfg.MaxClients).
					Msg("kernel limit raised for -max-clients")
				continue
			}
		}
		s.log.Warn().Str("sysctl", l.name).Int64("have", have).Int64("need", l.need).Int("max_clients", s.cfg.MaxClients).
			Msg(fmt.Sprintf("kernel limit below what -max-clients needs; raise it: sysctl -w %s=%d (or install dist/sysctl.d/90-forkmq.conf)", l.name, l.need))
	}
	// The supervisor holds a control channel per worker, and a client's
	// socket until its pair has it. Go raised the soft limit to the hard
	// one at start; the hard limit is the unit's LimitNOFILE=.
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
		need := uint64(2*s.cfg.MaxClients + 2*s.cfg.PoolMaxSpare + 256)
		if rl.Cur < need {
			s.log.Warn().Uint64("have", rl.Cur).Uint64("need", need).Int("max_clients", s.cfg.MaxClients).
				Msg("RLIMIT_NOFILE below what -max-clients needs; raise it (ulimit -n, LimitNOFILE= in the systemd unit)")
		}
	}
}

func readSysctl(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}
