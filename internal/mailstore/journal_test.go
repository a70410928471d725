package mailstore

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"testing"
)

func mustRecord(t testing.TB, dst []byte, r Record) []byte {
	t.Helper()
	b, err := AppendRecord(dst, r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRecordsDecodeUpToATornTail(t *testing.T) {
	a := Record{Entry: "0001-1-1", Progress: Progress{ID: 7}}
	b := Record{Entry: "0002-1-1", Progress: Progress{ID: 65535, Released: true}}
	two := mustRecord(t, mustRecord(t, nil, a), b)
	first := len(mustRecord(t, nil, a))
	flipped := bytes.Clone(two)
	flipped[len(flipped)-1] ^= 1
	zeroID := mustRecord(t, nil, a)
	zeroID[5], zeroID[6] = 0, 0
	for _, tc := range []struct {
		name string
		b    []byte
		want []Record
		good int
	}{
		{"empty", nil, nil, 0},
		{"two whole", two, []Record{a, b}, len(two)},
		{"second cut short", two[:len(two)-1], []Record{a}, first},
		{"second's head only", two[:first+recordHead], []Record{a}, first},
		{"second flipped", flipped, []Record{a}, first},
		{"zero identifier", zeroID, nil, 0},
		{"zeros", make([]byte, 40), nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, good := DecodeRecords(tc.b)
			if good != tc.good || len(recs) != len(tc.want) {
				t.Fatalf("decoded %v (%d bytes good), want %v (%d)", recs, good, tc.want, tc.good)
			}
			for i := range recs {
				if recs[i] != tc.want[i] {
					t.Fatalf("record %d: %+v, want %+v", i, recs[i], tc.want[i])
				}
			}
		})
	}
}

func TestAppendRecordRefusesWhatCannotBeDecoded(t *testing.T) {
	for _, r := range []Record{
		{Entry: "e"},
		{Progress: Progress{ID: 1}},
		{Entry: string(make([]byte, 256)), Progress: Progress{ID: 1}},
	} {
		if _, err := AppendRecord(nil, r); err == nil {
			t.Errorf("AppendRecord(%+v) succeeded", r)
		}
	}
}

// The journal replays to the last progress of each entry, ignores a torn
// tail, and a journal started afresh from what was recovered appends after
// the flows it holds.
func TestJournalRecoversAfterATornTail(t *testing.T) {
	dir := t.TempDir()
	j, err := Create(dir, nil, DefaultLimit)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Record{
		{Entry: "a", Progress: Progress{ID: 1}},
		{Entry: "b", Progress: Progress{ID: 2}},
		{Entry: "b", Progress: Progress{ID: 2, Released: true}},
	} {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	// The deliverer is killed while appending a fourth record.
	torn := mustRecord(t, nil, Record{Entry: "c", Progress: Progress{ID: 3}})
	f, err := os.OpenFile(filepath.Join(dir, journalName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(torn[:len(torn)-2])
	f.Close()

	flows, err := Recover(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Progress{"a": {ID: 1}, "b": {ID: 2, Released: true}}
	if !maps.Equal(flows, want) {
		t.Fatalf("recovered %v, want %v", flows, want)
	}
	j2, err := Create(dir, flows, DefaultLimit)
	if err != nil {
		t.Fatal(err)
	}
	if err := j2.Append(Record{Entry: "c", Progress: Progress{ID: 3}}); err != nil {
		t.Fatal(err)
	}
	j2.Close()
	if flows, _ = Recover(dir); len(flows) != 3 || flows["c"] != (Progress{ID: 3}) {
		t.Fatalf("after the restart's append: %v", flows)
	}
}

// A compaction cut short (killed before its rename) leaves the old journal
// whole; its half-written file is ignored and overwritten.
func TestCompactionInterruptedLeavesTheJournalWhole(t *testing.T) {
	dir := t.TempDir()
	j, err := Create(dir, map[string]Progress{"a": {ID: 1}, "b": {ID: 2}}, DefaultLimit)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	half := mustRecord(t, nil, Record{Entry: "z", Progress: Progress{ID: 9}})
	if err := os.WriteFile(filepath.Join(dir, journalNew), half[:5], 0o600); err != nil {
		t.Fatal(err)
	}
	flows, err := Recover(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := (map[string]Progress{"a": {ID: 1}, "b": {ID: 2}}); !maps.Equal(flows, want) {
		t.Fatalf("recovered %v, want %v", flows, want)
	}
	if _, err := Create(dir, flows, DefaultLimit); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, journalNew)); !os.IsNotExist(err) {
		t.Fatalf("the interrupted compaction's file is still there: %v", err)
	}
}

// Past its limit the journal is Full; Rewrite brings it back to the flows
// under way.
func TestJournalCompacts(t *testing.T) {
	dir := t.TempDir()
	j, err := Create(dir, nil, 200)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i := 0; !j.Full(); i++ {
		if i > 100 {
			t.Fatal("the journal never grows full")
		}
		if err := j.Append(Record{Entry: "entry", Progress: Progress{ID: uint16(i + 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Rewrite(map[string]Progress{"entry": {ID: 4}}); err != nil {
		t.Fatal(err)
	}
	if j.Full() {
		t.Fatal("still full after the rewrite")
	}
	if err := j.Append(Record{Entry: "other", Progress: Progress{ID: 5}}); err != nil {
		t.Fatal(err)
	}
	flows, _ := Recover(dir)
	if want := (map[string]Progress{"entry": {ID: 4}, "other": {ID: 5}}); !maps.Equal(flows, want) {
		t.Fatalf("recovered %v, want %v", flows, want)
	}
}

func FuzzDecodeRecords(f *testing.F) {
	seed, _ := AppendRecord(nil, Record{Entry: "0001-1-1", Progress: Progress{ID: 7}})
	seed, _ = AppendRecord(seed, Record{Entry: "x", Progress: Progress{ID: 1, Released: true}})
	f.Add(seed)
	f.Add(seed[:len(seed)-1])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, good := DecodeRecords(b)
		if good > len(b) {
			t.Fatalf("%d good bytes of %d", good, len(b))
		}
		var again []byte
		for _, r := range recs {
			var err error
			if again, err = AppendRecord(again, r); err != nil {
				t.Fatalf("decoded a record that does not encode: %+v: %v", r, err)
			}
		}
		if !bytes.Equal(again, b[:good]) {
			t.Fatalf("records re-encode to %x, not the %x they were decoded from", again, b[:good])
		}
	})
}
