package broker

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Names of the built-in brokers.
const (
	ForkmqProcess     = "forkmq-process"
	ForkmqGoroutine   = "forkmq-goroutine"
	Mosquitto         = "mosquitto"
	MosquittoNodelay  = "mosquitto-nodelay"
	Mochi             = "mochi"
	MosquittoFamily   = "mosquitto"
	mosquittoConfName = "mosquitto.conf"
)

// PresetOptions parameterise the built-in brokers.
type PresetOptions struct {
	BinDir string // holds broker, worker and mochi
	// ProcessMaxClients is forkmq-process's -max-clients; GoroutineMaxClients
	// the goroutine engine's.
	ProcessMaxClients, GoroutineMaxClients int
	// ProcessQueueBudget is forkmq-process's -queue-budget (0: the whole
	// RLIMIT_MSGQUEUE), for a machine where other forkmq brokers run too.
	ProcessQueueBudget int
}

// Presets returns the built-in brokers, each configured as its users would
// run it: forkmq with its defaults (but for the limits a benchmark must
// lift and warning-level logs), mosquitto with its defaults and notice-level
// logging (its log says when it drops messages), once more with
// set_tcp_nodelay true (its default leaves Nagle's algorithm on, which costs
// latency and, with publishers at full speed, gains throughput: the report
// compares with the better of the two for each figure), and mochi-mqtt with
// its defaults.
func Presets(o PresetOptions) []Spec {
	bin, err := filepath.Abs(o.BinDir)
	if err != nil {
		bin = o.BinDir
	}
	forkmq := func(maxClients int, extra string) string {
		return fmt.Sprintf("%s -listen 127.0.0.1:{port} -state-dir {dir}/state -max-clients %d -max-accept-rate 0 -log-level warn%s",
			filepath.Join(bin, "broker"), maxClients, extra)
	}
	forkmqVersion := func() string { return buildVersion(filepath.Join(bin, "broker")) }
	mochiBin := filepath.Join(bin, "mochi")
	return []Spec{
		{Name: ForkmqProcess, Command: forkmq(o.ProcessMaxClients, queueBudget(o.ProcessQueueBudget)), Version: forkmqVersion,
			Note: "two worker processes and a POSIX queue per client; -max-clients as high as fs.mqueue.queues_max allows, no accept-rate limit"},
		{Name: ForkmqGoroutine, Command: forkmq(o.GoroutineMaxClients, " -engine goroutine"), Version: forkmqVersion,
			Note: "the same broker in one process: two goroutines and channels per client"},
		{Name: Mosquitto, Family: MosquittoFamily, Command: "mosquitto -c {dir}/" + mosquittoConfName,
			Setup:   func(dir string, port int) error { return writeMosquittoConf(dir, port, false) },
			Config:  func() string { return mosquittoConf("{port}", false) },
			Version: mosquittoVersion,
			Note:    "its defaults (set_tcp_nodelay false: Nagle's algorithm on), notice-level log"},
		{Name: MosquittoNodelay, Family: MosquittoFamily, Command: "mosquitto -c {dir}/" + mosquittoConfName,
			Setup:   func(dir string, port int) error { return writeMosquittoConf(dir, port, true) },
			Config:  func() string { return mosquittoConf("{port}", true) },
			Version: mosquittoVersion,
			Note:    "its defaults but set_tcp_nodelay true, as every Go broker here has it"},
		{Name: Mochi, Command: mochiBin + " -listen 127.0.0.1:{port}",
			Config:  func() string { return output(mochiBin, "-print-config") },
			Version: func() string { return moduleVersion(mochiBin, "github.com/mochi-mqtt/server/v2") },
			Note:    "mochi-mqtt's defaults, allow-all hook, warning-level log (clients use a 60 s keep-alive, above the 5 s under which mochi warns on every connection)"},
	}
}

// mosquittoConf is the whole configuration the benchmark gives mosquitto:
// a listener on the loopback port, anonymous clients (mosquitto 2 refuses
// them by default once a listener is configured), nothing on disk, and its
// default log types but "information" (error, warning and notice: the
// notices say when it drops messages for a slow client). Everything else
// is mosquitto's default: max_queued_messages 1000, max_inflight_messages
// 20, no connection limit.
func mosquittoConf(port string, nodelay bool) string {
	lines := []string{
		"listener " + port + " 127.0.0.1",
		"allow_anonymous true",
		"persistence false",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
		"log_type notice",
	}
	if nodelay {
		lines = append(lines, "set_tcp_nodelay true")
	}
	return strings.Join(lines, "\n") + "\n"
}

func writeMosquittoConf(dir string, port int, nodelay bool) error {
	// mosquitto reads its file as root and then drops to user mosquitto.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, mosquittoConfName), []byte(mosquittoConf(strconv.Itoa(port), nodelay)), 0o644)
}

// mosquittoVersion is the version mosquitto prints and, where it came from
// Debian, the exact package version installed.
func mosquittoVersion() string {
	v := output("mosquitto", "-h") // prints its version, then exits 3
	v, _, _ = strings.Cut(v, "\n")
	if pkg := output("dpkg-query", "-W", "-f", "${Version}", "mosquitto"); pkg != "" {
		v += " (Debian package " + pkg + ")"
	}
	return v
}

// output runs a command and returns its trimmed output, whatever its exit.
func output(name string, args ...string) string {
	out, _ := exec.Command(name, args...).CombinedOutput()
	return strings.TrimSpace(string(out))
}

// buildVersion returns the VCS revision a Go binary was built from, with
// "+modified" when the tree had changes.
func buildVersion(binary string) string {
	rev, modified := BuildRevision(binary)
	if rev == "" {
		return "unknown build"
	}
	if modified {
		rev += "+modified"
	}
	return "git " + rev
}

// RevisionFile is written beside the binaries by scripts/bench.sh: the
// commit they were built from, "+modified" when the tree had changes.
const RevisionFile = "BUILD_REVISION"

// BuildRevision returns the commit a forkmq binary was built from: from
// RevisionFile beside it, or else from the vcs.revision and vcs.modified
// settings the Go toolchain embeds (unless GOFLAGS has -buildvcs=false).
func BuildRevision(binary string) (rev string, modified bool) {
	file := filepath.Join(filepath.Dir(binary), RevisionFile)
	if b, err := os.ReadFile(file); err == nil && !newer(binary, file) {
		rev, mod := strings.CutSuffix(strings.TrimSpace(string(b)), "+modified")
		if rev != "" && rev != "unknown" {
			return rev, mod
		}
	}
	out, err := exec.Command("go", "version", "-m", binary).Output()
	if err != nil {
		return "", false
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "build" {
			continue
		}
		if v, ok := strings.CutPrefix(f[1], "vcs.revision="); ok {
			rev = v
		}
		if v, ok := strings.CutPrefix(f[1], "vcs.modified="); ok {
			modified = v == "true"
		}
	}
	return rev, modified
}

// newer reports whether file a was modified after file b: a binary rebuilt
// after the revision file was written is not described by it.
func newer(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && fa.ModTime().After(fb.ModTime())
}

// moduleVersion returns the version of a dependency built into a Go binary.
func moduleVersion(binary, module string) string {
	out, err := exec.Command("go", "version", "-m", binary).Output()
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "dep" && f[1] == module {
			return module + " " + f[2]
		}
	}
	return ""
}

func queueBudget(bytes int) string {
	if bytes <= 0 {
		return ""
	}
	return fmt.Sprintf(" -queue-budget %d", bytes)
}

// DefaultProcessMaxClients is the most clients forkmq-process can be given
// on this machine: one POSIX queue each, and fs.mqueue.queues_max queues in
// all (a few kept for other users). 250 when the limit cannot be read.
func DefaultProcessMaxClients() int {
	b, err := os.ReadFile("/proc/sys/fs/mqueue/queues_max")
	if err != nil {
		return 250
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 16 {
		return 250
	}
	return n - 6
}
