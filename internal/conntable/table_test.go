package conntable

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/proctest"
)

func TestMain(m *testing.M) {
	proctest.Main(m, proctest.Helpers{"record": record})
}

// record is a helper process: it records the sequence numbers it is given
// ("-N" forgets N), says "ready" and waits to be killed.
func record(args []string) error {
	t, err := Create(args[0])
	if err != nil {
		return err
	}
	slots := map[uint64]int{}
	for _, a := range args[1:] {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return err
		}
		if n < 0 {
			t.Remove(slots[uint64(-n)])
			continue
		}
		if slots[uint64(n)], err = t.Add(uint64(n)); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	select {}
}

func create(t *testing.T) (*Table, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "conns")
	tb, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Close() })
	return tb, path
}

func read(t *testing.T, path string) []uint64 {
	t.Helper()
	seqs, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(seqs)
	return seqs
}

// TestAddRemove: what Read finds (and Seqs says) is what was added and not removed, at
// every step, across a growth of the file past its first page, and a
// freed slot is used again before the file grows.
func TestAddRemove(t *testing.T) {
	tb, path := create(t)
	perPage := (os.Getpagesize() - headerSize) / slotSize
	live := map[uint64]int{}
	want := func() []uint64 {
		var w []uint64
		for s := range live {
			w = append(w, s)
		}
		slices.Sort(w)
		return w
	}
	for _, step := range []struct {
		what        string
		add, remove []uint64
	}{
		{"empty", nil, nil},
		{"three", []uint64{1, 2, 3}, nil},
		{"one gone", nil, []uint64{2}},
		{"its slot used again", []uint64{4}, nil},
		{"past the first page", seqRange(5, uint64(perPage+10)), nil},
		{"most gone", nil, seqRange(5, uint64(perPage))},
		{"all gone", nil, append([]uint64{1, 3, 4}, seqRange(uint64(perPage+1), uint64(perPage+10))...)},
	} {
		for _, s := range step.add {
			i, err := tb.Add(s)
			if err != nil {
				t.Fatalf("%s: Add(%d): %v", step.what, s, err)
			}
			live[s] = i
		}
		for _, s := range step.remove {
			tb.Remove(live[s])
			delete(live, s)
		}
		if got := read(t, path); !slices.Equal(got, want()) {
			t.Fatalf("%s: Read = %v, want %v", step.what, got, want())
		}
		if got := slices.Sorted(slices.Values(tb.Seqs())); !slices.Equal(got, want()) {
			t.Errorf("%s: Seqs = %v, want %v", step.what, got, want())
		}
		if tb.Len() != len(live) {
			t.Errorf("%s: Len = %d, want %d", step.what, tb.Len(), len(live))
		}
		if step.what == "its slot used again" && live[4] != 1 {
			t.Errorf("slot %d for the fourth connection, want the freed slot 1", live[4])
		}
	}
	if _, err := tb.Add(0); err == nil {
		t.Error("Add(0) accepted: 0 marks a free slot")
	}
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// TestKilledWriter: a process killed with SIGKILL right after its stores
// (no close, no sync) leaves them readable: the sweep after a killed
// broker finds every connection it had recorded.
func TestKilledWriter(t *testing.T) {
	perPage := (os.Getpagesize() - headerSize) / slotSize
	for _, c := range []struct {
		name string
		args []string
		want []uint64
	}{
		{"none", nil, nil},
		{"some, one forgotten", []string{"7", "8", "9", "-8"}, []uint64{7, 9}},
		{"past the first page", strs(seqRange(1, uint64(perPage+3))), seqRange(1, uint64(perPage+3))},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "conns")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := proctest.Command(ctx, "record", append([]string{path}, c.args...)...)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
				cmd.Process.Kill()
				t.Fatalf("helper said %q, %v", line, err)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if got := read(t, path); !slices.Equal(got, c.want) {
				t.Errorf("after the writer's SIGKILL, Read = %v, want %v", got, c.want)
			}
		})
	}
}

func strs(ns []uint64) []string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.FormatUint(n, 10)
	}
	return s
}

// TestReadOther: a missing or empty file records nothing; a file that is not a
// record is an error, not an empty record.
func TestReadOther(t *testing.T) {
	dir := t.TempDir()
	if seqs, err := Read(filepath.Join(dir, "missing")); err != nil || seqs != nil {
		t.Errorf("Read of a missing file = %v, %v", seqs, err)
	}
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("forkmq.1234.5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(other); err == nil {
		t.Error("Read of a file without the header succeeded")
	}
	empty := filepath.Join(dir, "empty") // Create killed before its first write
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if seqs, err := Read(empty); err != nil || seqs != nil {
		t.Errorf("Read of an empty file = %v, %v", seqs, err)
	}
}

// TestCreateReplaces: Create starts empty whatever the file held.
func TestCreateReplaces(t *testing.T) {
	tb, path := create(t)
	for s := uint64(1); s <= 3; s++ {
		if _, err := tb.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	tb2, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tb2.Close()
	if got := read(t, path); len(got) != 0 {
		t.Errorf("after Create, Read = %v, want nothing", got)
	}
}
