package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Names of the built-in brokers, in the order they run.
const (
	ForkmqProcess   = "forkmq-process"
	ForkmqGoroutine = "forkmq-goroutine"
	Mosquitto       = "mosquitto"
	Mochi           = "mochi"
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

// Presets returns the built-in brokers. All log warnings and errors only,
// so that no broker spends the benchmark writing a line per connection.
func Presets(o PresetOptions) []Spec {
	bin, err := filepath.Abs(o.BinDir)
	if err != nil {
		bin = o.BinDir
	}
	forkmq := func(maxClients int, extra string) string {
		return fmt.Sprintf("%s -listen 127.0.0.1:{port} -state-dir {dir}/state -max-clients %d -max-accept-rate 0 -log-level warn%s",
			filepath.Join(bin, "broker"), maxClients, extra)
	}
	return []Spec{
		{Name: ForkmqProcess, Command: forkmq(o.ProcessMaxClients, queueBudget(o.ProcessQueueBudget))},
		{Name: ForkmqGoroutine, Command: forkmq(o.GoroutineMaxClients, " -engine goroutine")},
		{Name: Mosquitto, Command: "mosquitto -c {dir}/mosquitto.conf", Setup: mosquittoConf},
		{Name: Mochi, Command: filepath.Join(bin, "mochi") + " -listen 127.0.0.1:{port}"},
	}
}

// mosquittoConf writes a configuration that listens on the port at
// 127.0.0.1, allows anonymous clients, keeps nothing on disk, lifts the
// connection limit and logs warnings and errors only.
func mosquittoConf(dir string, port int) error {
	conf := strings.Join([]string{
		"listener " + strconv.Itoa(port) + " 127.0.0.1",
		"allow_anonymous true",
		"persistence false",
		"max_connections -1",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
		"",
	}, "\n")
	// mosquitto reads its file as root and then drops to user mosquitto.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "mosquitto.conf"), []byte(conf), 0o644)
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
