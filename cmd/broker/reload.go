package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/brokerconf"
	"github.com/forkmq/forkmq/internal/mosqconf"
	"github.com/forkmq/forkmq/internal/options"
)

// reconfigurable is a running engine that takes the options a SIGHUP
// re-read (brokerconf.Live says which it applies).
type reconfigurable interface {
	Reconfigure(options.Options)
}

// reloadOnHUP re-reads the configuration file at each SIGHUP (the engine
// re-reads the access files itself): it logs every change, one line each,
// applied or needing a restart, and hands the engine the options it runs
// with from now on. A file that no longer reads is logged and changes
// nothing. Without -c there is nothing to re-read here.
func reloadOnHUP(ctx context.Context, log zerolog.Logger, argv []string, cur brokerconf.Loaded, eng reconfigurable) {
	if cur.File == nil {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		next, changes, err := brokerconf.Reload(argv, cur, settle)
		if err != nil {
			log.Error().Err(err).Str("file", cur.File.Path).Msg("SIGHUP: configuration file not re-read; the broker keeps running as configured")
			continue
		}
		logNotices(log, next.Notices, cur.Notices)
		running := cur.Options
		live, restart := 0, 0
		for _, c := range changes {
			ev := log.Info()
			msg := "SIGHUP: applied"
			if !c.Live {
				ev, msg = log.Warn(), "SIGHUP: changed in the file, takes effect after a restart"
				restart++
			} else {
				live++
			}
			ev.Str("option", c.Flag).Str("key", c.Key).Str("line", linePos(c)).Str("old", c.Old).Str("new", c.New).Msg(msg)
		}
		running = brokerconf.ApplyLive(running, next.Options)
		eng.Reconfigure(running)
		cur.File, cur.Notices, cur.Options = next.File, next.Notices, running
		log.Info().Str("file", next.File.Path).Int("applied", live).Int("need_restart", restart).Msg("SIGHUP: configuration file re-read")
	}
}

func linePos(c brokerconf.Change) string {
	if c.Pos.Line == 0 {
		return ""
	}
	return c.Pos.String()
}

// logNotices logs each line of the file that forkmq ignores, once: at
// start every one, on SIGHUP those of keys not noticed before.
func logNotices(log zerolog.Logger, notices, before []mosqconf.Notice) {
	seen := make(map[string]bool, len(before))
	for _, n := range before {
		seen[n.Key] = true
	}
	for _, n := range notices {
		if !seen[n.Key] {
			log.Warn().Str("line", n.Pos.String()).Str("key", n.Key).Msg(n.Msg)
		}
	}
}
