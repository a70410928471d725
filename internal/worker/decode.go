package worker

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/packet"
)

// errSpoolGone: a spooled envelope's file is gone (swept after a crash).
var errSpoolGone = errors.New("spooled message missing")

// decode turns an envelope into a core.Item. It copies what the Item keeps:
// env may be reused.
func (d *deliverer) decode(env []byte) (core.Item, error) {
	if len(env) == 0 {
		return core.Item{}, fmt.Errorf("%w: empty", envelope.ErrBadEnvelope)
	}
	body := env[1:]
	switch envelope.Kind(env[0]) {
	case envelope.KindPacket:
		return core.Item{Kind: core.Reply, Packet: append([]byte(nil), body...)}, nil
	case envelope.KindPublish:
		pub, err := envelope.ParsePublication(body)
		if err != nil {
			return core.Item{}, err
		}
		return publicationItem(pub.Flags, pub.Topic, &core.Message{Topic: pub.Topic, Payload: append([]byte(nil), pub.Payload...), Routed: d.routed}), nil
	case envelope.KindSpooled:
		b, f, err := d.spool.TakeSmall(d.identity, string(body), core.InlineFile)
		if err != nil {
			d.log.Warn().Err(err).Msg("spooled message missing") // swept after a crash
			return core.Item{}, errSpoolGone
		}
		if f != nil {
			return openPublication(f, 0)
		}
		return spooledItem(b)
	case envelope.KindSegment:
		off, n, err := envelope.ParseSegment(body)
		if err != nil {
			return core.Item{}, err
		}
		b, err := d.segmentCopy(off, n)
		if b == nil {
			d.log.Warn().Err(err).Msg("spooled message missing")
			return core.Item{}, errSpoolGone
		}
		if err != nil {
			d.log.Warn().Err(err).Msg("spool segment: a copy was read but its memory not freed")
		}
		return spooledItem(b)
	case envelope.KindMailbox:
		name, entry := envelope.ParseMailbox(body)
		if entry != nil && d.mailbox != nil {
			d.mailbox.keep(name, entry)
		}
		return core.Item{Kind: core.Bell, Entry: name}, nil
	case envelope.KindAck:
		t, id, err := envelope.ParseAck(body)
		if err != nil {
			return core.Item{}, err
		}
		return core.Item{Kind: core.Ack, AckType: packet.Type(t), AckID: id}, nil
	case envelope.KindHold:
		return core.Item{Kind: core.Hold}, nil
	case envelope.KindRelease:
		return core.Item{Kind: core.Release}, nil
	case envelope.KindClose:
		return core.Item{Kind: core.Close}, nil
	}
	return core.Item{}, fmt.Errorf("%w: kind %#x", envelope.ErrBadEnvelope, env[0])
}

// segmentCopy takes the copy of n bytes at off from the client's spool
// segment, opened the first time.
func (d *deliverer) segmentCopy(off, n int64) ([]byte, error) {
	if d.segment == nil {
		r, err := d.spool.OpenSegment(d.identity)
		if err != nil {
			return nil, err
		}
		d.segment = r
	}
	return d.segment.Take(off, n)
}

// spooledItem is the Item of a spooled copy read whole: a packet, or a
// publication whose payload stays in b (b is the Item's).
func spooledItem(b []byte) (core.Item, error) {
	if len(b) == 0 {
		return core.Item{}, fmt.Errorf("%w: empty spooled copy", envelope.ErrBadEnvelope)
	}
	switch envelope.Kind(b[0]) {
	case envelope.KindPacket:
		return core.Item{Kind: core.Reply, Packet: b[1:]}, nil
	case envelope.KindPublish:
		pub, err := envelope.ParsePublication(b[1:])
		if err != nil {
			return core.Item{}, err
		}
		return publicationItem(pub.Flags, pub.Topic, &core.Message{Topic: pub.Topic, Payload: pub.Payload}), nil
	}
	return core.Item{}, fmt.Errorf("%w: spooled kind %#x", envelope.ErrBadEnvelope, b[0])
}

// publicationItem is the Item of a routed publication with PUBLISH flags.
func publicationItem(flags byte, topic string, m *core.Message) core.Item {
	m.Topic, m.Retain = topic, flags&1 != 0
	return core.Item{Kind: core.Publication, Msg: m, QoS: packet.QoS(flags >> 1 & 3)}
}

// openPublication reads the envelope in a file (a spool copy or a mailbox
// entry) from offset at: a whole packet (a reply too large for a datagram),
// or a publication whose payload stays in the file. It takes f over.
func openPublication(f *os.File, at int64) (core.Item, error) {
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return core.Item{}, fmt.Errorf("spool stat: %w", err)
	}
	var head [4]byte
	if _, err := f.ReadAt(head[:1], at); err != nil {
		f.Close()
		return core.Item{}, fmt.Errorf("spool read: %w", err)
	}
	switch envelope.Kind(head[0]) {
	case envelope.KindPacket:
		b, err := io.ReadAll(io.NewSectionReader(f, at+1, st.Size()-at-1))
		f.Close()
		if err != nil {
			return core.Item{}, fmt.Errorf("spool read: %w", err)
		}
		return core.Item{Kind: core.Reply, Packet: b}, nil
	case envelope.KindPublish:
	default:
		f.Close()
		return core.Item{}, fmt.Errorf("%w: spooled kind %#x", envelope.ErrBadEnvelope, head[0])
	}
	if _, err := f.ReadAt(head[1:4], at+1); err != nil {
		f.Close()
		return core.Item{}, fmt.Errorf("spool read: %w", err)
	}
	topic := make([]byte, int(head[2])<<8|int(head[3]))
	if _, err := f.ReadAt(topic, at+4); err != nil {
		f.Close()
		return core.Item{}, fmt.Errorf("spool read: %w", err)
	}
	offset := at + 4 + int64(len(topic))
	return publicationItem(head[1], string(topic), &core.Message{File: f, Offset: offset, Size: st.Size() - offset}), nil
}

// fileQoS reads the QoS of a spooled publication; 0 if it cannot be read.
func fileQoS(f *os.File) packet.QoS {
	var b [2]byte
	if n, _ := f.ReadAt(b[:], 0); n < 2 {
		return 0
	}
	return packet.QoS(b[1] >> 1 & 3)
}
