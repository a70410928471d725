// Command broker is forkmq's MQTT 3.1.1 broker: a parent process that
// listens and serves every client with two worker processes of its own,
// connected by a POSIX message queue (see docs/ARCHITECTURE.md). With
// -engine goroutine it runs the same broker in one process instead, a
// goroutine pair and channels per client (package goengine), as the control
// of the comparison.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/auth"
	"github.com/forkmq/forkmq/internal/goengine"
	"github.com/forkmq/forkmq/internal/logging"
	"github.com/forkmq/forkmq/internal/protocol"
	"github.com/forkmq/forkmq/internal/stall"
	"github.com/forkmq/forkmq/internal/supervisor"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(argv []string) int {
	var cfg supervisor.Config
	var engine string
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: broker [flags]\n\nforkmq's MQTT 3.1.1 broker: two worker processes per client, POSIX message queues between them (or, with -engine goroutine, two goroutines and channels).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&engine, "engine", "process", "`engine`: process (two worker processes and a POSIX queue per client) or goroutine (two goroutines and channels per client, in this process)")
	fs.StringVar(&cfg.Listen, "listen", ":1883", "TCP `address` to listen on (port 0 picks a free port; the log says which)")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "`directory` for topic files, client records and spooled payloads (default /dev/shm/forkmq-PORT, or $TMPDIR/forkmq-PORT without /dev/shm)")
	fs.IntVar(&cfg.MaxClients, "max-clients", supervisor.DefaultMaxClients, "most clients served at once; sizes each client's queue from the RLIMIT_MSGQUEUE budget")
	fs.Uint64Var(&cfg.QueueBudget, "queue-budget", 0, "`bytes` of the RLIMIT_MSGQUEUE budget this broker's queues may use together (default: all; give less to run several brokers as one user)")
	fs.IntVar(&cfg.MaxPacketSize, "max-packet-size", supervisor.DefaultMaxPacketSize, "largest packet accepted from a client, in `bytes`")
	fs.DurationVar(&cfg.ConnectWait, "connect-timeout", supervisor.DefaultConnectWait, "how long a new connection may take to send CONNECT")
	fs.IntVar(&cfg.MaxInflight, "max-inflight", supervisor.DefaultMaxInflight, "unacknowledged QoS 1/2 messages sent to a client at once; more wait their turn")
	fs.IntVar(&cfg.SessionMsgs, "session-max-messages", supervisor.DefaultSessionMsgs, "most QoS 1/2 messages a persistent session stores (offline or slow); more are dropped and logged")
	fs.Int64Var(&cfg.SessionBytes, "session-max-bytes", supervisor.DefaultSessionBytes, "most bytes a persistent session stores; more are dropped and logged")
	fs.IntVar(&cfg.BacklogMsgs, "max-queued-messages", supervisor.DefaultBacklogMsgs, "messages held for a client that reads slowly; when they are reached its publishers wait (back-pressure)")
	fs.Int64Var(&cfg.BacklogBytes, "max-queued-bytes", supervisor.DefaultBacklogBytes, "bytes held for a client that reads slowly (see -max-queued-messages)")
	fs.DurationVar(&cfg.StallTimeout, "stall-timeout", stall.DefaultTimeout, "how long a client whose backlog is full may read nothing before it counts as stalled: then its QoS 0 messages are dropped (and counted) and a QoS 1/2 message disconnects it, and its publishers wait no more")
	fs.IntVar(&cfg.MaxSubs, "max-subscriptions", supervisor.DefaultMaxSubs, "topic filters one connection may hold; more get SUBACK 0x80 (0: no limit)")
	fs.IntVar(&cfg.MaxTopicLen, "max-topic-length", supervisor.DefaultMaxTopicLen, "bytes in a topic name or filter; a longer filter gets SUBACK 0x80, a PUBLISH closes the connection (0: no limit)")
	fs.IntVar(&cfg.MaxTopicLevel, "max-topic-levels", 0, "levels in a topic name or filter, refused like -max-topic-length (0: no limit)")
	fs.Float64Var(&cfg.AcceptRate, "max-accept-rate", supervisor.DefaultAcceptRate, "new connections taken per second, with bursts of -accept-burst; more get CONNACK 3 (0: no limit)")
	fs.IntVar(&cfg.AcceptBurst, "accept-burst", supervisor.DefaultAcceptBurst, "connections taken at once above -max-accept-rate")
	fs.StringVar(&cfg.PasswordFile, "password-file", "", "user names and passwords, in mosquitto_passwd's format (see docs/ACCESS.md); re-read on SIGHUP")
	fs.StringVar(&cfg.ACLFile, "acl-file", "", "topic access rules, in mosquitto's acl_file format; re-read on SIGHUP")
	fs.BoolVar(&cfg.AllowAnon, "allow-anonymous", true, "let clients connect without a user name")
	fs.StringVar(&cfg.User, "user", "", "when started as root, run as this `user` after binding the port (the workers too)")
	fs.StringVar(&cfg.WorkerPath, "worker", "", "worker binary `path` (default: 'worker' beside this binary)")
	fs.StringVar(&cfg.LogFormat, "log-format", logging.FormatAuto, "log format: auto (console on a terminal, json otherwise), console or json")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug (every packet), info, warn or error")
	if err := fs.Parse(argv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if engine != "process" && engine != "goroutine" {
		fmt.Fprintf(os.Stderr, "broker: -engine %q: want process or goroutine\n", engine)
		return 2
	}
	format, err := logging.Resolve(cfg.LogFormat, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker:", err)
		return 2
	}
	cfg.LogFormat = format // workers share the parent's stderr, so its format
	log, err := logging.New(os.Stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker:", err)
		return 2
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(runtimeDir(), "forkmq-"+portOf(cfg.Listen))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if engine == "goroutine" {
		return runGoroutine(ctx, cfg, log)
	}
	if cfg.WorkerPath == "" {
		exe, err := os.Executable()
		if err != nil {
			log.Error().Err(err).Msg("cannot find the worker binary; give -worker")
			return 1
		}
		cfg.WorkerPath = filepath.Join(filepath.Dir(exe), "worker")
	}
	sup, err := supervisor.New(cfg, log)
	if err != nil {
		log.Error().Err(err).Msg("broker cannot start")
		return 1
	}
	return exitOf(log, sup.Run(ctx))
}

// runGoroutine runs the goroutine engine with the flags both engines share;
// -worker and -queue-budget concern processes and queues only.
func runGoroutine(ctx context.Context, cfg supervisor.Config, log zerolog.Logger) int {
	eng, err := goengine.New(goengine.Config{
		Listen:        cfg.Listen,
		StateDir:      cfg.StateDir,
		MaxClients:    cfg.MaxClients,
		MaxPacketSize: cfg.MaxPacketSize,
		ConnectWait:   cfg.ConnectWait,
		MaxInflight:   cfg.MaxInflight,
		SessionMsgs:   cfg.SessionMsgs,
		SessionBytes:  cfg.SessionBytes,
		BacklogMsgs:   cfg.BacklogMsgs,
		BacklogBytes:  cfg.BacklogBytes,
		StallTimeout:  cfg.StallTimeout,
		Limits:        protocol.Limits{MaxSubscriptions: cfg.MaxSubs, MaxTopicLength: cfg.MaxTopicLen, MaxTopicLevels: cfg.MaxTopicLevel},
		Access:        accessConfig(cfg),
	}, log)
	if err != nil {
		log.Error().Err(err).Msg("broker cannot start")
		return 1
	}
	return exitOf(log, eng.Run(ctx))
}

// accessConfig is the goroutine engine's access configuration, nil when
// every client may do everything.
func accessConfig(cfg supervisor.Config) *auth.Config {
	if cfg.PasswordFile == "" && cfg.ACLFile == "" && cfg.AllowAnon {
		return nil
	}
	return &auth.Config{PasswordFile: cfg.PasswordFile, ACLFile: cfg.ACLFile, AllowAnonymous: cfg.AllowAnon}
}

var start = time.Now()

// exitOf logs how serving ended and returns the exit status.
func exitOf(log zerolog.Logger, err error) int {
	if err != nil {
		log.Error().Err(err).Dur("uptime", time.Since(start)).Msg("broker stopped with an error")
		return 1
	}
	return 0
}

// runtimeDir is where the default state directory goes: a tmpfs when there
// is one (topic files are replaced with fsync, which costs nothing there),
// else the temporary directory.
func runtimeDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			if p := addr[i+1:]; p != "" && p != "0" {
				return p
			}
			break
		}
	}
	return fmt.Sprint(os.Getpid())
}
