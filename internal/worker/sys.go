package worker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/control"
	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/retain"
	"github.com/forkmq/forkmq/internal/scoreboard"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/state"
	"github.com/forkmq/forkmq/internal/systopics"
	"github.com/forkmq/forkmq/internal/topicdir"
)

// publishSys is the sys role (control.PublishSys): the broker's one $SYS
// worker, which the supervisor starts for it outside the pool and starts
// again if it dies, publishes the $SYS topics (package systopics) every
// -sys-interval until it is stopped. It sums the scoreboard's slots and
// reads the state directory — no message from any other process — and
// publishes each value as a retained message through the normal routing
// path, as a will worker publishes a will; so subscribers get $SYS like
// any topic, under the same access rules. A Reload that changes the
// interval starts a new round at once with the new one (0: none until the
// next Reload).
func (w *worker) publishSys() spawn.ExitCode {
	log := w.log.With().Str("role", "sys").Logger()
	w.slot.Serve(scoreboard.RoleSys, "", "")
	w.slot.SetState(scoreboard.StateConnected)
	layout := state.Layout{Root: w.args.StateDir, Instance: w.args.Instance}
	board, err := scoreboard.Open(filepath.Join(w.args.StateDir, scoreboard.FileName))
	if err != nil {
		return w.fail(err)
	}
	defer board.Close()
	rt, err := w.openRouting()
	if err != nil {
		return w.fail(err)
	}
	outlet, done := rt.outlet(w.args, log, w.spool, w.pid)
	defer done()
	r := core.NewRouter[string](log, rt.index, outlet, nil, nil, rt.retained)
	r.Counts = w.slot
	src := func(context.Context) (systopics.Counts, error) {
		c := systopics.FromBoard(board.Read())
		c.Subscriptions = countSubscriptions(rt.index.dir, log)
		c.ClientsDisconnected = offlineSessions(layout)
		if n, err := rt.retained.Count(); err == nil {
			c.RetainedMessages = n
		}
		return c, nil
	}
	publish := func(m systopics.Message) error {
		p := &packet.Publish{Topic: m.Topic, Retain: true, Payload: []byte(m.Payload)}
		// Retained for later subscribers, but not synced: the next round
		// makes it again, and a restart need not keep it.
		if err := rt.retained.SetVolatile(retain.Message{Topic: p.Topic, Payload: p.Payload}); err != nil {
			return err
		}
		err := r.Publish(p)
		outlet.Flush()
		return err
	}
	pub := systopics.NewPublisher(board.Read().Created)
	run := func(interval time.Duration) (stop func()) {
		if interval <= 0 {
			log.Info().Msg("$SYS off (-sys-interval 0)")
			return func() {}
		}
		log.Info().Dur("interval", interval).Msg("publishing $SYS")
		ctx, cancel := context.WithCancel(context.Background())
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			pub.Run(ctx, func() time.Duration { return interval }, src, publish,
				func(err error) { log.Warn().Err(err).Msg("$SYS not refreshed") })
		}()
		return func() { cancel(); <-ended }
	}
	interval := w.args.SysInterval
	stop := run(interval)
	for m := range w.link.inbox {
		switch m := m.(type) {
		case *control.Reload:
			w.reload(m)
			if w.args.SysInterval != interval {
				stop()
				interval = w.args.SysInterval
				stop = run(interval)
			}
		case *control.Stop:
			stop()
			return w.exit(spawn.ExitStopped, m.Reason.String())
		default:
			stop()
			return w.fail(fmt.Errorf("control channel: unexpected %s while publishing $SYS", m.Type()))
		}
	}
	return spawn.ExitFailure // the inbox is never closed
}

// countSubscriptions counts the entries of every topic file: filters
// held, over every session, online or not.
func countSubscriptions(dir *topicdir.Dir, log zerolog.Logger) int {
	n := 0
	err := dir.Filters(func(_, _ string, subs []topicdir.Subscriber) error {
		n += len(subs)
		return nil
	})
	if err != nil {
		log.Debug().Err(err).Msg("$SYS: topic files not all read")
	}
	return n
}

// offlineSessions counts the persistent sessions no connection has
// adopted: sessions/<hash> files, less clients/<conn>.session ones.
func offlineSessions(l state.Layout) int {
	count := func(dir string, keep func(string) bool) int {
		entries, _ := os.ReadDir(dir)
		n := 0
		for _, e := range entries {
			if keep(e.Name()) {
				n++
			}
		}
		return n
	}
	sessions := count(l.Sessions(), func(n string) bool { return !strings.Contains(n, ".") })
	online := count(l.Clients(), func(n string) bool { return strings.HasSuffix(n, ".session") })
	return max(0, sessions-online)
}
