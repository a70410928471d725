package worker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/scoreboard"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/spool"
	"github.com/forkmq/forkmq/internal/state"
	"github.com/forkmq/forkmq/internal/systopics"
	"github.com/forkmq/forkmq/internal/topicdir"
)

// publishSys is the sys role: one worker of the broker's, started and
// restarted by the supervisor, that publishes the $SYS topics (package
// systopics) every -sys-interval. It sums the scoreboard's slots and reads
// the state directory — no message from any other process — and publishes
// each value as a retained message through the normal routing path, as a
// will worker publishes a will; so subscribers get $SYS like any topic,
// under the same access rules. It runs until the supervisor stops it.
func publishSys(args spawn.Args, log zerolog.Logger, sp *spool.Spool) spawn.ExitCode {
	layout := state.Layout{Root: args.StateDir, Instance: args.Instance}
	board, err := scoreboard.Open(filepath.Join(args.StateDir, scoreboard.FileName))
	if err != nil {
		log.Error().Err(err).Msg("sys: scoreboard")
		return spawn.ExitFailure
	}
	index, outlet, retained, err := openRouting(args, log, sp)
	if err != nil {
		log.Error().Err(err).Msg("sys: open state")
		return spawn.ExitFailure
	}
	slot := attachSlot(args, log)
	slot.SetState(scoreboard.StateConnected)
	r := core.NewRouter[string](log, index, outlet, nil, nil, retained)
	src := func(context.Context) (systopics.Counts, error) {
		c := systopics.FromBoard(board.Read())
		c.Subscriptions = countSubscriptions(index.dir, log)
		c.ClientsDisconnected = offlineSessions(layout)
		if n, err := retained.Count(); err == nil {
			c.RetainedMessages = n
		}
		return c, nil
	}
	publish := func(m systopics.Message) error {
		p := &packet.Publish{Topic: m.Topic, Retain: true, Payload: []byte(m.Payload)}
		if err := r.Retain(p); err != nil {
			return err
		}
		err := r.Publish(p)
		outlet.Flush()
		return err
	}
	pub := systopics.NewPublisher(board.Read().Created)
	log.Info().Dur("interval", args.SysInterval).Msg("publishing $SYS")
	pub.Run(context.Background(), func() time.Duration { return args.SysInterval }, src, publish,
		func(err error) { log.Warn().Err(err).Msg("$SYS not refreshed") })
	return spawn.ExitOrderly
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
