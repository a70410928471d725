package topicdir

import (
	"errors"
	"slices"
	"testing"
)

func TestFormatRoundTrip(t *testing.T) {
	subs := []Subscriber{{"forkmq.1.2", 2}, {"forkmq.1.1", 0}}
	data := encodeFilterFile("a/\n\"b\"/\xff", subs)
	filter, got, err := decodeFilterFile(data)
	if err != nil || filter != "a/\n\"b\"/\xff" || !slices.Equal(got, []Subscriber{{"forkmq.1.1", 0}, {"forkmq.1.2", 2}}) {
		t.Errorf("filter file round trip: %q %v %v\n%s", filter, got, err, data)
	}
	rec := []Subscription{{"z/#", 1}, {"a\nb", 2}}
	queue, gotRec, err := decodeRecord(encodeRecord("forkmq.1.1", rec))
	if err != nil || queue != "forkmq.1.1" || !slices.Equal(gotRec, []Subscription{{"a\nb", 2}, {"z/#", 1}}) {
		t.Errorf("record round trip: %q %v %v", queue, gotRec, err)
	}
}

func TestFormatRejects(t *testing.T) {
	for _, data := range []string{
		"",
		"forkmq-topic v1\n",
		"forkmq-topic v3\nfilter \"a\"\n",
		"forkmq-topic v1\nfilter a\n",
		"forkmq-topic v1\nfilter \"a\"\n3 q\n",
		"forkmq-topic v1\nfilter \"a\"\n1 q",
		"forkmq-topic v1\nfilter \"a\"\n1 ../q\n",
		"forkmq-topic v1\nfilter \"a\"\n1\n",
		"forkmq-queue v1\nfilter \"a\"\n",
	} {
		if _, _, err := decodeFilterFile([]byte(data)); !errors.Is(err, errFormat) {
			t.Errorf("decodeFilterFile(%q) = %v, want errFormat", data, err)
		}
	}
	for _, data := range []string{
		"forkmq-queue v1\nqueue a b\n",
		"forkmq-queue v1\nqueue q\n1 a\n",
		"forkmq-topic v1\nqueue q\n",
	} {
		if _, _, err := decodeRecord([]byte(data)); !errors.Is(err, errFormat) {
			t.Errorf("decodeRecord(%q) = %v, want errFormat", data, err)
		}
	}
}
