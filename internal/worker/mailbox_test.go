package worker

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/forkmq/forkmq/internal/spool"
)

func TestMailboxEntries(t *testing.T) {
	dir := t.TempDir()
	sp, err := spool.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const q = "forkmq.1.s00"
	if err := sp.AddQueue(q); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"0002-1-1.p7", "0001-1-1", "0003-1-1.r9", ".missed", "0004-1-1.p0", "0005-1-1.px"} {
		if err := os.WriteFile(filepath.Join(sp.QueueDir(q), n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := newMailbox(sp, q).entries()
	if err != nil {
		t.Fatal(err)
	}
	want := []mailboxEntry{
		{base: "0001-1-1"},
		{base: "0002-1-1", state: 'p', id: 7},
		{base: "0003-1-1", state: 'r', id: 9},
		{base: "0004-1-1.p0"}, // id 0 is no identifier: an entry not sent yet
		{base: "0005-1-1.px"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entries\n got %+v\nwant %+v", got, want)
	}
}
