package e2e

import (
	"testing"
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
		{"PublishQoS3First", false, pkt(0x36, str("mal/qos3"), u16(1), []byte("x")), false},
		{"PublishQoS3", true, pkt(0x36, str("mal/qos3"), u16(1), []byte("x")), false},
		// [MQTT-1.5.3-1] strings are well-formed UTF-8.
		{"TopicInvalidUTF8", true, publishBytes("mal/\xff\xfe", []byte("x")), false},
		{"TopicUTF16Surrogate", true, publishBytes("mal/\xed\xa0\x80", []byte("x")), false},
		// [MQTT-1.5.3-2] strings do not contain U+0000.
		{"TopicNUL", true, publishBytes("mal/a\x00b", []byte("x")), false},
		// [MQTT-3.3.2-2] a topic name has no wildcards.
		{"TopicWildcard", true, publishBytes("mal/+", []byte("x")), false},
		// [MQTT-4.7.3-1] a topic name is at least one character long.
		{"TopicEmpty", true, publishBytes("", []byte("x")), false},
		// [MQTT-3.8.1-1] SUBSCRIBE's fixed header flags are 0010.
		{"SubscribeBadFlags", true, pkt(0x80, u16(1), str("mal/#"), []byte{0}), false},
		// [MQTT-3.8.3-3] SUBSCRIBE carries at least one filter.
		{"SubscribeNoFilter", true, pkt(hdrSubscribe, u16(1)), false},
		// [MQTT-4.7.1-2] '#' is the last level of a filter.
		{"SubscribeHashNotLast", true, subscribeBytes(1, 0, "mal/#/x"), true},
		{"SubscribePlusInLevel", true, subscribeBytes(1, 0, "mal/a+"), true},
		// [MQTT-3.8.3-4] requested QoS 3 is malformed.
		{"SubscribeQoS3", true, subscribeBytes(1, 3, "mal/q"), false},
		// [MQTT-2.2.2-2] reserved flags of PINGREQ are 0.
		{"PingreqFlags", true, pkt(hdrPingreq | 0x01), false},
		// A CONNECT whose fields run past its remaining length.
		{"ConnectTruncated", false, pkt(hdrConnect, str("MQTT"), []byte{4}), false},
		// Packet type 0 and 15 are reserved [MQTT-2.2.1].
		{"ReservedType0", true, pkt(0x00), false},
		{"ReservedType15", true, pkt(0xF0), false},
	}
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))
		sub := connectPaho(t, b, newClientID("malsub"))
		in := subscribe(t, sub, "mal/#")
		pub := connectPaho(t, b, newClientID("malpub"))
		routed := 0 // messages on mal/# other than fences, reported so far
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				rc := dialRaw(t, b)
				if tc.connected {
					rc.send(t, mqtt311(newClientID("mal")).bytes())
					rc.expectConnack(t, connAccepted)
				}
				rc.send(t, tc.data)
				if tc.subackFailureOK {
					rc.expectClosedOrFailedSuback(t)
				} else {
					rc.expectRefused(t)
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
