package envelope

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestPublicationRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		flags   byte
		topic   string
		payload []byte
	}{
		{"empty payload", 0, "a/b", nil},
		{"qos 1 retain", 0x03, "sensors/kitchen/temp", []byte("21.5")},
		{"long topic", 0x08, strings.Repeat("x", 65535), []byte{0, 1, 2}},
		{"binary payload", 0x04, "t", bytes.Repeat([]byte{0xff, 0x00}, 100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := AppendPublish(nil, tt.flags, tt.topic, tt.payload)
			if Kind(env[0]) != KindPublish {
				t.Fatalf("kind %#x", env[0])
			}
			if got, want := len(env)-1, PublicationSize(len(tt.topic), len(tt.payload)); got != want {
				t.Fatalf("size %d, PublicationSize says %d", got, want)
			}
			pub, err := ParsePublication(env[1:])
			if err != nil {
				t.Fatal(err)
			}
			if pub.Flags != tt.flags || pub.Topic != tt.topic || !bytes.Equal(pub.Payload, tt.payload) {
				t.Fatalf("got %+v", pub)
			}
		})
	}
}

func TestParsePublicationRejectsShortInput(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {0, 0}, {0, 0, 5, 'a'}} {
		if _, err := ParsePublication(b); !errors.Is(err, ErrBadEnvelope) {
			t.Errorf("% x: got %v, want ErrBadEnvelope", b, err)
		}
	}
}

func TestPacketAndSpooledEnvelopes(t *testing.T) {
	if got := AppendPacket(nil, []byte{0xd0, 0x00}); !bytes.Equal(got, []byte{byte(KindPacket), 0xd0, 0x00}) {
		t.Errorf("packet envelope % x", got)
	}
	if got := AppendSpooled(nil, "12-ab-3"); string(got[1:]) != "12-ab-3" || Kind(got[0]) != KindSpooled {
		t.Errorf("spooled envelope % x", got)
	}
}
