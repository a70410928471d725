package retain

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/forkmq/forkmq/internal/proctest"
)

// The test binary doubles as helper processes (package proctest): "churn"
// below.
func TestMain(m *testing.M) {
	proctest.Main(m, proctest.Helpers{"churn": helperChurn})
}

// collide gives every long topic of s the same name.
func collide(s *Store) {
	s.names.Hash = func(string) string { return strings.Repeat("0", 32) }
}

// churnTopics overlap between processes, so they write the same files. The
// long ones share one hashed name when the collide mode forces collisions.
var churnTopics = []string{
	"a", "a/b", "A/b", "$SYS/x", "sport/tennis/player1",
	string(bytes.Repeat([]byte("long/"), 60)) + "1",
	string(bytes.Repeat([]byte("long/"), 60)) + "2",
	string(bytes.Repeat([]byte("long/"), 60)) + "3",
}

// helperChurn (args: path, id, operations, "collide" or "plain") sets
// (mostly) and deletes random churn topics with self-checking payloads of
// varied sizes, then sets every churn topic once.
func helperChurn(args []string) error {
	var id, ops int
	var mode string
	if _, err := fmt.Sscan(strings.Join(args[1:], " "), &id, &ops, &mode); err != nil {
		return err
	}
	s, err := Open(args[0])
	if err != nil {
		return err
	}
	defer s.Close()
	if mode == "collide" {
		collide(s)
	}
	rng := rand.New(rand.NewPCG(uint64(id), 7))
	final := rng.Perm(len(churnTopics))
	for seq := range ops + len(final) {
		t := churnTopics[rng.IntN(len(churnTopics))]
		last := seq >= ops
		if last {
			t = churnTopics[final[seq-ops]]
		}
		var payload []byte
		if last || rng.IntN(10) > 0 {
			size := 40 + rng.IntN(4096)
			if rng.IntN(20) == 0 {
				size = 1 << 20
			}
			payload = makePayload(t, id, seq, size)
		}
		if err := s.Set(Message{Topic: t, QoS: byte(seq % 3), Payload: payload}); err != nil {
			return fmt.Errorf("Set(%q): %w", t, err)
		}
	}
	return nil
}

// makePayload is: SHA-256 of the rest, topic length, writer id, sequence,
// topic, then filler. checkPayload verifies all of it, so a torn or mixed
// file cannot pass.
func makePayload(topic string, id, seq, size int) []byte {
	body := binary.BigEndian.AppendUint32(nil, uint32(len(topic)))
	body = binary.BigEndian.AppendUint32(body, uint32(id))
	body = binary.BigEndian.AppendUint32(body, uint32(seq))
	body = append(body, topic...)
	for len(body) < size-sha256.Size {
		body = append(body, byte(len(body)*7+id))
	}
	sum := sha256.Sum256(body)
	return append(sum[:], body...)
}

func checkPayload(topic string, p []byte) (id int, err error) {
	if len(p) < sha256.Size+12 {
		return 0, fmt.Errorf("payload of %d bytes", len(p))
	}
	if sum := sha256.Sum256(p[sha256.Size:]); !bytes.Equal(sum[:], p[:sha256.Size]) {
		return 0, fmt.Errorf("payload of %d bytes fails its checksum", len(p))
	}
	body := p[sha256.Size:]
	n := int(binary.BigEndian.Uint32(body))
	if 12+n > len(body) || string(body[12:12+n]) != topic {
		return 0, fmt.Errorf("payload written for another topic")
	}
	return int(binary.BigEndian.Uint32(body[4:])), nil
}

func storeDir(tb testing.TB) string { return proctest.Dir(tb, "retained") }

func openAt(tb testing.TB, path string) *Store { return proctest.Open(tb, Open, path) }

func set(tb testing.TB, s *Store, topic string, qos byte, payload string) {
	tb.Helper()
	if err := s.Set(Message{Topic: topic, QoS: qos, Payload: []byte(payload)}); err != nil {
		tb.Fatalf("Set(%q): %v", topic, err)
	}
}

// matchAll returns topic -> payload of what Match hands over, read through
// Message.Open, failing on a topic seen twice.
func matchAll(tb testing.TB, s *Store, filter string) map[string]string {
	tb.Helper()
	got := map[string]string{}
	err := s.Match(filter, func(m Message) error {
		r, size := m.Open()
		defer r.Close()
		var b bytes.Buffer
		if n, err := b.ReadFrom(r); err != nil || n != size {
			return fmt.Errorf("%q: read %d of %d bytes: %v", m.Topic, n, size, err)
		}
		if _, dup := got[m.Topic]; dup {
			return fmt.Errorf("%q twice", m.Topic)
		}
		got[m.Topic] = b.String()
		return nil
	})
	if err != nil {
		tb.Fatalf("Match(%q): %v", filter, err)
	}
	return got
}
