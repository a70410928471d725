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

	"github.com/forkmq/forkmq/internal/bridge"
	"github.com/forkmq/forkmq/internal/brokerconf"
	"github.com/forkmq/forkmq/internal/goengine"
	"github.com/forkmq/forkmq/internal/logging"
	"github.com/forkmq/forkmq/internal/options"
	"github.com/forkmq/forkmq/internal/supervisor"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(argv []string) int {
	if len(argv) > 0 && argv[0] == "status" {
		return status(argv[1:])
	}
	if len(argv) > 0 && argv[0] == bridge.ProcessArg {
		return int(runBridge())
	}
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: broker [-c FILE] [flags]\n       broker status -state-dir DIR\n\nforkmq's MQTT 3.1.1 broker: two worker processes per client, POSIX message queues between them (or, with -engine goroutine, two goroutines and channels).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	loaded, err := brokerconf.Parse(fs, argv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker:", err)
		return 2
	}
	opts := loaded.Options
	if err := settle(&opts); err != nil {
		fmt.Fprintln(os.Stderr, "broker:", err)
		return 2
	}
	loaded.Options = opts
	bridgeCfgs, err := bridges(loaded)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker:", err)
		return 2
	}
	log, err := logging.New(os.Stderr, opts.LogFormat, opts.LogLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker:", err)
		return 2
	}
	logNotices(log, loaded.Notices, nil)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	adminLn, err := listenAdmin(opts.AdminListen)
	if err != nil {
		log.Error().Err(err).Msg("broker cannot start")
		return 1
	}
	if opts.Engine == options.Goroutine {
		eng, err := goengine.New(opts, log)
		if err != nil {
			log.Error().Err(err).Msg("broker cannot start")
			return 1
		}
		for _, bc := range bridgeCfgs {
			if err := eng.AddBridge(bc); err != nil {
				log.Error().Err(err).Msg("broker cannot start")
				return 1
			}
		}
		go reloadOnHUP(ctx, log, argv, loaded, eng)
		serveAdmin(ctx, log, adminLn, opts.StateDir, eng)
		return exitOf(log, eng.Run(ctx))
	}
	sup, err := supervisor.New(opts, log)
	if err != nil {
		log.Error().Err(err).Msg("broker cannot start")
		return 1
	}
	if len(bridgeCfgs) > 0 {
		self, err := os.Executable()
		if err != nil {
			log.Error().Err(err).Msg("broker cannot start: its bridges need its own binary's path")
			return 1
		}
		for _, bc := range bridgeCfgs {
			sup.AddBridge(bc, self)
		}
	}
	go reloadOnHUP(ctx, log, argv, loaded, sup)
	serveAdmin(ctx, log, adminLn, opts.StateDir, sup)
	return exitOf(log, sup.Run(ctx))
}

// settle fills in what the options leave to the broker: the log format
// (workers share the parent's stderr, so its format), the default state
// directory, and the worker binary beside the broker. A SIGHUP's re-read
// options are settled the same way before they are compared.
func settle(o *options.Options) error {
	format, err := logging.Resolve(o.LogFormat, os.Stderr)
	if err != nil {
		return err
	}
	o.LogFormat = format
	if o.StateDir == "" {
		o.StateDir = filepath.Join(runtimeDir(), "forkmq-"+portOf(o.Listen))
	}
	if o.Engine == options.Process && o.WorkerPath == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("cannot find the worker binary; give -worker: %w", err)
		}
		o.WorkerPath = filepath.Join(filepath.Dir(exe), "worker")
	}
	return nil
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
