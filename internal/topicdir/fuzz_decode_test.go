package topicdir

import (
	"reflect"
	"testing"
)

// FuzzDecodeFiles feeds arbitrary bytes to the filter-file and queue-record
// decoders (files other processes write, possibly torn by a crash): they
// must never panic, and what decodes must encode and decode again the same.
func FuzzDecodeFiles(f *testing.F) {
	f.Add(encodeFilterFile("a/+/c", []Subscriber{{Queue: "forkmq.1.2", QoS: 1}}))
	f.Add(encodeRecord("forkmq.1.2", []Subscription{{Filter: "a/#", QoS: 2}}))
	f.Add([]byte("garbage\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if filter, subs, err := decodeFilterFile(b); err == nil {
			f2, s2, err := decodeFilterFile(encodeFilterFile(filter, subs))
			if err != nil || f2 != filter || !sameSubs(s2, subs) {
				t.Fatalf("filter file %q: round trip gave %q %v %v", b, f2, s2, err)
			}
		}
		if queue, subs, err := decodeRecord(b); err == nil {
			q2, s2, err := decodeRecord(encodeRecord(queue, subs))
			if err != nil || q2 != queue || !sameSubs(s2, subs) {
				t.Fatalf("record %q: round trip gave %q %v %v", b, q2, s2, err)
			}
		}
	})
}

func sameSubs[T any](a, b []T) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}
