package worker

import (
	"errors"
	"os"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/spool"
	"github.com/forkmq/forkmq/internal/state"
)

// publishWill is the will role: the supervisor starts it when a connection
// ended without DISCONNECT and left its will behind [MQTT-3.1.2-8]. It routes
// the will like a router routes a PUBLISH (retaining it if asked
// [MQTT-3.1.2-17]), then removes the file; a takeover waits for that.
func publishWill(args spawn.Args, log zerolog.Logger, sp *spool.Spool) spawn.ExitCode {
	layout := state.Layout{Root: args.StateDir, Instance: args.Instance}
	path := layout.Will(args.Queue)
	defer os.Remove(path)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return spawn.ExitOrderly
	}
	if err != nil || len(b) == 0 || envelope.Kind(b[0]) != envelope.KindPublish {
		log.Error().Err(err).Msg("will unreadable; not published")
		return spawn.ExitFailure
	}
	pub, err := envelope.ParsePublication(b[1:])
	if err != nil {
		log.Error().Err(err).Msg("will unreadable; not published")
		return spawn.ExitFailure
	}
	index, outlet, retained, err := openRouting(args, log, sp)
	if err != nil {
		log.Error().Err(err).Msg("will: open state")
		return spawn.ExitFailure
	}
	w := &packet.Will{QoS: packet.QoS(pub.Flags >> 1 & 3), Retain: pub.Flags&1 != 0, Topic: pub.Topic, Payload: pub.Payload}
	err = core.NewRouter[string](log, index, outlet, nil, nil, retained).PublishWill(w)
	outlet.Flush()
	if err != nil {
		log.Error().Err(err).Msg("will")
		return spawn.ExitFailure
	}
	log.Info().Str("client_id", readClientID(layout, args.Queue)).Str("topic", w.Topic).Msg("will published")
	return spawn.ExitOrderly
}

func readClientID(l state.Layout, conn string) string {
	b, _ := os.ReadFile(l.ClientID(conn))
	return string(b)
}
