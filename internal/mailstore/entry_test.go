package mailstore

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestEntryReadsBackWhatWasWritten(t *testing.T) {
	small := []byte("\x01\x02\x00\x03a/bpayload")
	large := bytes.Repeat([]byte("x"), 3000)
	for _, tc := range []struct {
		name  string
		write func(dir, name string) error
		want  []byte
		buf   int // the reader's buffer: smaller than the entry keeps it on disk
	}{
		{"in memory", func(dir, name string) error { return Write(dir, name, small) }, small, 1024},
		{"empty envelope", func(dir, name string) error { return Write(dir, name, nil) }, nil, 1024},
		{"on disk", func(dir, name string) error { return Write(dir, name, large) }, large, 1024},
		{"streamed", func(dir, name string) error {
			return WriteFrom(dir, name, large[:100], bytes.NewReader(large[100:]))
		}, large, 1024},
		{"streamed, read into memory", func(dir, name string) error {
			return WriteFrom(dir, name, large[:100], bytes.NewReader(large[100:]))
		}, large, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tc.write(dir, "e"); err != nil {
				t.Fatal(err)
			}
			env, f, _, err := Read(dir, "e", make([]byte, tc.buf))
			if err != nil {
				t.Fatal(err)
			}
			if f != nil {
				defer f.Close()
				if _, err := f.Seek(HeaderSize, io.SeekStart); err != nil {
					t.Fatal(err)
				}
				if env, err = io.ReadAll(f); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(env, tc.want) {
				t.Fatalf("read %d bytes, want the %d written", len(env), len(tc.want))
			}
		})
	}
}

// A router killed while writing an entry leaves it torn, at any length:
// Read says so, whether the entry would be read into memory or not, and
// tells its age.
func TestTornEntryIsDetected(t *testing.T) {
	env := bytes.Repeat([]byte("y"), 500)
	whole := append(AppendHeader(nil, env), env...)
	flipped := bytes.Clone(whole)
	flipped[len(flipped)-1] ^= 1
	longer := append(bytes.Clone(whole), 'z')
	cases := map[string][]byte{"bad checksum": flipped, "too long": longer}
	for n := 0; n < len(whole); n += 37 {
		cases["cut at "+strconv.Itoa(n)] = whole[:n]
	}
	for name, content := range cases {
		for _, buf := range []int{100, 1024} {
			if name == "bad checksum" && buf < len(whole) {
				continue // on disk, only the length is checked
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "e"), content, 0o600); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-time.Hour)
			os.Chtimes(filepath.Join(dir, "e"), old, old)
			_, f, age, err := Read(dir, "e", make([]byte, buf))
			if f != nil {
				f.Close()
			}
			if !errors.Is(err, ErrTorn) {
				t.Errorf("%s (buffer %d): err %v, want ErrTorn", name, buf, err)
			}
			if age < 59*time.Minute {
				t.Errorf("%s (buffer %d): age %v, want about an hour", name, buf, age)
			}
		}
	}
}

// A file that does not start as an entry does (an older broker's mailbox
// file) is ErrForeign, still an ErrTorn; one of ours cut short is not.
func TestForeignFileIsToldFromATornEntry(t *testing.T) {
	for _, tc := range []struct {
		content string
		foreign bool
	}{
		{"", false},
		{"fq", false},
		{"fqm1\x00\x00", false},
		{"\x02\x02\x00\x01tpayload of an older entry", true},
		{"fqX", true},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "e"), []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, _, err := Read(dir, "e", make([]byte, 64))
		if !errors.Is(err, ErrTorn) || errors.Is(err, ErrForeign) != tc.foreign {
			t.Errorf("%q: %v, want ErrTorn, foreign %v", tc.content, err, tc.foreign)
		}
	}
}

// An entry streamed by WriteFrom whose writer dies half-way reads as torn,
// never as a foreign file: a torn entry is deleted once old, a foreign one
// never is.
func TestStreamedEntryIsTornWhileWritten(t *testing.T) {
	dir := t.TempDir()
	body := bytes.Repeat([]byte("x"), 3*8192)
	checked := 0
	r := readerFunc(func(p []byte) (int, error) {
		if len(body) == 0 {
			return 0, io.EOF
		}
		_, _, _, err := Read(dir, "e", make([]byte, 64))
		if !errors.Is(err, ErrTorn) || errors.Is(err, ErrForeign) {
			t.Fatalf("an entry being streamed reads as %v, want ErrTorn and not ErrForeign", err)
		}
		checked++
		n := copy(p, body[:min(len(p), len(body), 1000)])
		body = body[n:]
		return n, nil
	})
	if err := WriteFrom(dir, "e", []byte("head"), r); err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("the body was never read")
	}
	env, f, _, err := Read(dir, "e", make([]byte, 64<<10))
	if f != nil {
		f.Close()
	}
	if err != nil || len(env) != 4+3*8192 || !bytes.HasPrefix(env, []byte("head")) {
		t.Fatalf("the finished entry reads as %d bytes %q…, %v", len(env), env[:min(len(env), 8)], err)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestNamesSortByTime(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 5)
	a, b := Name(t0, 99999, 12), Name(t0.Add(time.Nanosecond), 1, 1)
	if !(a < b) {
		t.Fatalf("%q sorts after %q", a, b)
	}
}

func TestEntriesListsOnlyEntriesSorted(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"0002-1-1", ".journal", "0001-1-1", ".missed", "0003-1-1"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Entries(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"0001-1-1", "0002-1-1", "0003-1-1"}; !slices.Equal(got, want) {
		t.Fatalf("Entries = %v, want %v", got, want)
	}
}

func TestLinkSharesAnEntry(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if err := Write(a, "e", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := Link(Path(a, "e"), b, "e"); err != nil {
		t.Fatal(err)
	}
	if err := Remove(a, "e"); err != nil {
		t.Fatal(err)
	}
	env, _, _, err := Read(b, "e", make([]byte, 64))
	if err != nil || string(env) != "hello" {
		t.Fatalf("linked entry: %q, %v", env, err)
	}
	if err := Remove(a, "e"); err != nil {
		t.Fatalf("removing an entry already gone: %v", err)
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(append(AppendHeader(nil, []byte("abc")), "abc"...))
	f.Add([]byte("fqm1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := Decode(b)
		if err != nil {
			return
		}
		if !bytes.Equal(append(AppendHeader(nil, env), env...), b) {
			t.Fatalf("Decode accepted %x, which does not encode back", b)
		}
	})
}
