package e2e

import (
	"testing"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// TestMalformedInput: a client sending a malformed packet, first or after a
// valid CONNECT, is disconnected; what it sent is not routed; and another
// connected client is unaffected and still receives.
func TestMalformedInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		connected bool   // send a valid CONNECT first
		data      []byte // the offending bytes
		// A failed SUBACK (0x80) is an acceptable answer instead of a close.
		subackFailureOK bool
	}{
		// [MQTT-2.2.3] the remaining length has at most 4 bytes.
		{"RemainingLengthOf5Bytes", false, []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x7f}, false},
		{"RemainingLengthOf5BytesAfterConnect", true, []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f}, false},
		// [MQTT-3.3.1-4] a PUBLISH must not have both QoS bits set.
		{"PublishQoS3First", false, rawmqtt.Frame(0x36, rawmqtt.Str("mal/qos3"), rawmqtt.U16(1), []byte("x")), false},
		{"PublishQoS3", true, rawmqtt.Frame(0x36, rawmqtt.Str("mal/qos3"), rawmqtt.U16(1), []byte("x")), false},
		// [MQTT-1.5.3-1] strings are well-formed UTF-8.
		{"TopicInvalidUTF8", true, rawmqtt.Publish{Topic: "mal/\xff\xfe", Payload: "x"}.Bytes(), false},
		{"TopicUTF16Surrogate", true, rawmqtt.Publish{Topic: "mal/\xed\xa0\x80", Payload: "x"}.Bytes(), false},
		// [MQTT-1.5.3-2] strings do not contain U+0000.
		{"TopicNUL", true, rawmqtt.Publish{Topic: "mal/a\x00b", Payload: "x"}.Bytes(), false},
		// [MQTT-3.3.2-2] a topic name has no wildcards.
		{"TopicWildcard", true, rawmqtt.Publish{Topic: "mal/+", Payload: "x"}.Bytes(), false},
		// [MQTT-4.7.3-1] a topic name is at least one character long.
		{"TopicEmpty", true, rawmqtt.Publish{Topic: "", Payload: "x"}.Bytes(), false},
		// [MQTT-3.8.1-1] SUBSCRIBE's fixed header flags are 0010.
		{"SubscribeBadFlags", true, rawmqtt.Frame(0x80, rawmqtt.U16(1), rawmqtt.Str("mal/#"), []byte{0}), false},
		// [MQTT-3.8.3-3] SUBSCRIBE carries at least one filter.
		{"SubscribeNoFilter", true, rawmqtt.Frame(rawmqtt.HeaderSubscribe, rawmqtt.U16(1)), false},
		// [MQTT-4.7.1-2] '#' is the last level of a filter.
		{"SubscribeHashNotLast", true, rawmqtt.Subscribe(1, 0, "mal/#/x"), true},
		{"SubscribePlusInLevel", true, rawmqtt.Subscribe(1, 0, "mal/a+"), true},
		// [MQTT-3.8.3-4] requested QoS 3 is malformed.
		{"SubscribeQoS3", true, rawmqtt.Subscribe(1, 3, "mal/q"), false},
		// [MQTT-2.2.2-2] reserved flags of PINGREQ are 0.
		{"PingreqFlags", true, rawmqtt.Frame(rawmqtt.HeaderPingreq | 0x01), false},
		// A CONNECT whose fields run past its remaining length.
		{"ConnectTruncated", false, rawmqtt.Frame(rawmqtt.HeaderConnect, rawmqtt.Str("MQTT"), []byte{4}), false},
		// Packet type 0 and 15 are reserved [MQTT-2.2.1].
		{"ReservedType0", true, rawmqtt.Frame(0x00), false},
		{"ReservedType15", true, rawmqtt.Frame(0xF0), false},
	}
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))
		sub := connectPaho(t, b, newClientID("malsub"))
		in := subscribe(t, sub, "mal/#")
		pub := connectPaho(t, b, newClientID("malpub"))
		routed := 0 // messages on mal/# other than fences, reported so far
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				rc := rawmqtt.Open(t, b.Addr)
				if tc.connected {
					rc.Send(t, rawmqtt.MQTT311(newClientID("mal")).Bytes())
					rc.ExpectConnack(t, rawmqtt.Accepted, false)
				}
				rc.Send(t, tc.data)
				if tc.subackFailureOK {
					rc.ExpectClosedOrFailedSuback(t)
				} else {
					rc.ExpectRefused(t)
				}
				if got := fence(t, pub, in, "mal/fence"); len(got) > routed {
					t.Errorf("the malformed packet was routed: %q", topicsOf(got[routed:]))
					routed = len(got)
				}
			})
		}
		b.assertClean(t, 2)
	})
}
