package worker

import (
	"fmt"
	"io"

	"github.com/forkmq/forkmq/internal/control"
	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/spawn"
)

// publishWill is the will role: the supervisor hands an idle worker the
// will a connection announced (control.Will) when that connection ended
// without DISCONNECT [MQTT-3.1.2-8]. It routes the will like a router routes
// a PUBLISH (retaining it if asked [MQTT-3.1.2-17]); a takeover's new
// connection is granted its client identifier only after this.
func (w *worker) publishWill(m *control.PublishWill) spawn.ExitCode {
	log := w.log.With().Str("role", "will").Str("conn", m.Conn).Str("queue", m.Conn).Logger()
	will, err := readWill(m)
	if err != nil {
		log.Error().Err(err).Msg("will unreadable; not published")
		return spawn.ExitFailure
	}
	rt, err := w.openRouting()
	if err != nil {
		log.Error().Err(err).Msg("will: open state")
		return spawn.ExitFailure
	}
	outlet, done := rt.outlet(w.args, log, w.spool, w.pid)
	defer done()
	r := core.NewRouter[string](log, rt.index, outlet, nil, nil, rt.retained)
	r.Counts = w.slot
	err = r.PublishWill(will)
	outlet.Flush()
	if err != nil {
		log.Error().Err(err).Msg("will")
		return spawn.ExitFailure
	}
	log.Info().Str("topic", will.Topic).Msg("will published")
	return spawn.ExitOrderly
}

// readWill reads the will envelope from the file handed over, and closes it.
func readWill(m *control.PublishWill) (*packet.Will, error) {
	defer m.File.Close()
	st, err := m.File.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, st.Size())
	if _, err := m.File.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	if len(b) == 0 || envelope.Kind(b[0]) != envelope.KindPublish {
		return nil, fmt.Errorf("%w: not a publication", envelope.ErrBadEnvelope)
	}
	pub, err := envelope.ParsePublication(b[1:])
	if err != nil {
		return nil, err
	}
	return &packet.Will{QoS: packet.QoS(pub.Flags >> 1 & 3), Retain: pub.Flags&1 != 0, Topic: pub.Topic, Payload: pub.Payload}, nil
}
