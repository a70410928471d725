package worker

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/rs/zerolog"
)

// ProfileEnv names a directory in the environment; when it is set, every
// worker writes a CPU profile there, <role>-<pid>.pprof, for `go tool pprof`
// (the supervisor passes its environment on). Workers that are killed or
// stopped by a signal leave an empty or partial profile; orderly ends and
// closed connections write a whole one.
const ProfileEnv = "FORKMQ_WORKER_CPUPROFILE"

// startProfile starts the CPU profile if asked to and reports whether it
// did; the returned function stops it.
func startProfile(role string, log zerolog.Logger) (stop func(), on bool) {
	dir := os.Getenv(ProfileEnv)
	if dir == "" {
		return nil, false
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.pprof", role, os.Getpid())))
	if err != nil {
		log.Warn().Err(err).Msg("no CPU profile")
		return nil, false
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		log.Warn().Err(err).Msg("no CPU profile")
		return nil, false
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, true
}
