package control

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/spawn"
)

// devNull opens /dev/null for a test: a descriptor to pass around.
func devNull(t testing.TB) *os.File {
	t.Helper()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// samples returns one message of every type, strings filled to s.
func samples(t testing.TB, s string) []Message {
	return []Message{
		&Ready{Generation: 7},
		&Hand{Role: RoleRouter, Conn: "forkmq.5f3a9c21.1" + s, Remote: "127.0.0.1:50442" + s, Generation: 7, Partner: 4242,
			Socket: devNull(t), Pair: devNull(t)},
		&PublishWill{Conn: "forkmq.5f3a9c21.1" + s, File: devNull(t)},
		&PublishSys{},
		&Claim{ClientID: "client-7" + s},
		&Grant{ClientID: "client-7" + s, Replaced: true},
		&Refuse{ClientID: "client-7" + s, Reason: RefuseTimeout},
		&Will{Topic: "clients/7/status" + s, File: devNull(t)},
		&WillCleared{},
		&Adopt{Session: "forkmq.5f3a9c21.s0123456789abcdef01234567" + s},
		&Takeover{By: "127.0.0.1:50450" + s},
		&CleanupDone{End: spawn.ExitTakenOver},
		&Idle{Served: 3},
		&Reload{Generation: 8, PasswordFile: "/etc/forkmq/passwd" + s, ACLFile: "/etc/forkmq/acl" + s, AllowAnon: true, SysInterval: 10e9},
		&Stop{Reason: StopShutdown},
		&Exiting{Code: spawn.ExitKeepAlive, Detail: "keep-alive timeout" + s},
		&PartnerIdle{},
	}
}

// TestSamplesCoverTheList keeps samples (and so every round-trip test) in
// step with the one list of types.
func TestSamplesCoverTheList(t *testing.T) {
	seen := map[Type]bool{}
	for _, m := range samples(t, "") {
		seen[m.Type()] = true
	}
	for ty := Type(1); ty < typeEnd; ty++ {
		if !seen[ty] {
			t.Errorf("no sample of %s", ty)
		}
		if got := types[ty].new().Type(); got != ty {
			t.Errorf("types[%d].new() makes a %s", ty, got)
		}
	}
}

// withoutFiles returns a copy of m with every descriptor field nil, and the
// descriptors, in field order.
func withoutFiles(t testing.TB, m Message) (Message, []*os.File) {
	t.Helper()
	v := reflect.New(reflect.TypeOf(m).Elem())
	v.Elem().Set(reflect.ValueOf(m).Elem())
	var files []*os.File
	for i := range v.Elem().NumField() {
		if f, ok := v.Elem().Field(i).Interface().(*os.File); ok {
			files = append(files, f)
			v.Elem().Field(i).Set(reflect.Zero(v.Elem().Field(i).Type()))
		}
		// The numbers a raw decoding gives instead (Conn.RawHands): -1
		// otherwise, and not sent.
		if strings.HasSuffix(v.Elem().Type().Field(i).Name, "Fd") {
			v.Elem().Field(i).SetInt(0)
		}
	}
	return v.Interface().(Message), files
}

// sameFile reports whether two descriptors name the same open file.
func sameFile(t testing.TB, a, b *os.File) bool {
	t.Helper()
	var sa, sb unix.Stat_t
	if err := unix.Fstat(int(a.Fd()), &sa); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(int(b.Fd()), &sb); err != nil {
		t.Fatal(err)
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// TestRoundTrip sends every message, with its longest strings, through a
// real channel: the fields come back equal and each descriptor names the
// file that was sent.
func TestRoundTrip(t *testing.T) {
	for _, fill := range []string{"", strings.Repeat("x", MaxString-60)} {
		sup, wrk := connPair(t)
		for _, m := range samples(t, fill) {
			t.Run(m.Type().String(), func(t *testing.T) {
				from, to := sup, wrk
				if m.Type().From() == FromWorker {
					from, to = wrk, sup
				}
				if err := from.Send(m); err != nil {
					t.Fatalf("Send: %v", err)
				}
				got, err := to.Receive()
				if err != nil {
					t.Fatalf("Receive: %v", err)
				}
				want, sent := withoutFiles(t, m)
				have, received := withoutFiles(t, got)
				if !reflect.DeepEqual(have, want) {
					t.Errorf("got %+v, want %+v", have, want)
				}
				if len(received) != len(sent) || len(sent) != m.Type().Files() {
					t.Fatalf("%d descriptors sent, %d received, the type says %d", len(sent), len(received), m.Type().Files())
				}
				for i := range sent {
					if !sameFile(t, sent[i], received[i]) {
						t.Errorf("descriptor %d is not the file sent", i)
					}
					if received[i].Fd() == sent[i].Fd() {
						t.Errorf("descriptor %d is the sender's own number %d", i, sent[i].Fd())
					}
					received[i].Close()
				}
			})
		}
	}
}

// golden are datagrams with a comment per field.
var golden = []struct {
	m Message
	b []byte
}{
	{&Claim{ClientID: "c7"}, []byte{
		0x05,                 // type Claim
		0x00, 0x02, 'c', '7', // client id
	}},
	{&Hand{Role: RoleDeliverer, Conn: "q1", Remote: "a:1", Identity: "cn", Generation: 0x0102, Partner: 0x0a0b0c0d}, []byte{
		0x02,                 // type Hand
		0x03,                 // role deliverer
		0x00, 0x02, 'q', '1', // conn
		0x00, 0x03, 'a', ':', '1', // remote
		0x00, 0x02, 'c', 'n', // identity (use_identity_as_username)
		0, 0, 0, 0, 0, 0, 0x01, 0x02, // generation
		0x0a, 0x0b, 0x0c, 0x0d, // partner
		// socket, pair: in the ancillary data
	}},
	{&Exiting{Code: spawn.ExitSlowConsumer, Detail: "x"}, []byte{
		0x10,            // type Exiting
		16,              // code
		0x00, 0x01, 'x', // detail
	}},
	{&CleanupDone{End: spawn.ExitProtocol}, []byte{
		0x0c, // type CleanupDone
		11,   // end: protocol error
	}},
	{&Idle{Served: 0x01020304}, []byte{0x0d, 1, 2, 3, 4}},
	{&Stop{Reason: StopTrim}, []byte{0x0f, 0x03}},
}

func TestGolden(t *testing.T) {
	for _, g := range golden {
		t.Run(g.m.Type().String(), func(t *testing.T) {
			m, files := withoutFiles(t, g.m)
			fds := make([]int, len(files))
			for i := range g.m.Type().Files() {
				fds[i] = dupFd(t, devNull(t))
			}
			got, err := Decode(g.b, fds)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			got, gotFiles := withoutFiles(t, got)
			for _, f := range gotFiles {
				f.Close()
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("Decode = %+v, want %+v", got, m)
			}
			if g.m.Type().Files() > 0 {
				return // Encode needs the descriptors, which golden leaves out
			}
			b, _, err := Encode(g.m)
			if err != nil || !bytes.Equal(b, g.b) {
				t.Errorf("Encode = % x, %v; want % x", b, err, g.b)
			}
		})
	}
}

// dupFd returns a duplicate of f's descriptor for Decode to own.
func dupFd(t testing.TB, f *os.File) int {
	t.Helper()
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

// TestDecodeErrors feeds malformed datagrams: each is refused with the
// sentinel and the field that explain it.
func TestDecodeErrors(t *testing.T) {
	long := append([]byte{byte(TypeClaim), (MaxString + 1) >> 8, (MaxString + 1) & 0xff}, make([]byte, MaxString+2)...)
	cases := []struct {
		name  string
		b     []byte
		fds   int
		err   error
		field string
	}{
		{"empty", nil, 0, ErrTruncated, "type"},
		{"unknown type", []byte{0x00}, 0, ErrUnknownType, "type"},
		{"type past the list", []byte{byte(typeEnd)}, 0, ErrUnknownType, "type"},
		{"truncated u64", []byte{byte(TypeReady), 0, 0, 0}, 0, ErrTruncated, "generation"},
		{"truncated string length", []byte{byte(TypeClaim), 0}, 0, ErrTruncated, "client id"},
		{"truncated string", []byte{byte(TypeClaim), 0, 5, 'a'}, 0, ErrTruncated, "client id"},
		{"missing bool", []byte{byte(TypeGrant), 0, 1, 'a'}, 0, ErrTruncated, "replaced"},
		{"bool 2", []byte{byte(TypeGrant), 0, 1, 'a', 2}, 0, ErrValue, "replaced"},
		{"empty client id", []byte{byte(TypeClaim), 0, 0}, 0, ErrEmpty, "client id"},
		{"string past MaxString", long, 0, ErrTooLong, "client id"},
		{"trailing byte", []byte{byte(TypeWillCleared), 0}, 0, ErrTrailing, ""},
		{"stop reason 0", []byte{byte(TypeStop), 0}, 0, ErrValue, "reason"},
		{"refuse reason past the list", []byte{byte(TypeRefuse), 0, 1, 'a', byte(refuseEnd)}, 0, ErrValue, "reason"},
		{"hand to a pool role", []byte{byte(TypeHand), byte(RolePool)}, 2, ErrValue, "role"},
		{"hand without descriptors", []byte{byte(TypeHand), byte(RoleRouter)}, 0, ErrDescriptors, ""},
		{"descriptor on a plain message", []byte{byte(TypeWillCleared)}, 1, ErrDescriptors, ""},
		{"oversized", append([]byte{byte(TypeReady)}, make([]byte, MaxSize)...), 0, ErrOversized, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fds := make([]int, c.fds)
			for i := range fds {
				fds[i] = dupFd(t, devNull(t))
			}
			m, err := Decode(c.b, fds)
			var e *Error
			if !errors.Is(err, c.err) || !errors.As(err, &e) || e.Field != c.field {
				t.Fatalf("Decode = %v, %v; want %v in field %q", m, err, c.err, c.field)
			}
			for _, fd := range fds {
				if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
					t.Errorf("descriptor %d still open after the refusal", fd)
				}
			}
		})
	}
}

// TestEncodeErrors: what cannot be sent is refused before anything is.
func TestEncodeErrors(t *testing.T) {
	cases := []struct {
		name  string
		m     Message
		err   error
		field string
	}{
		{"string past MaxString", &Takeover{By: strings.Repeat("a", MaxString+1)}, ErrTooLong, "by"},
		{"empty name", &Adopt{}, ErrEmpty, "session"},
		{"missing descriptor", &Will{Topic: "t"}, ErrMissingFile, "will"},
		{"hand a will role", &Hand{Role: RoleWill, Conn: "q"}, ErrValue, "role"},
		{"exit code past a byte", &Exiting{Code: 256}, ErrValue, "code"},
		{"zero stop reason", &Stop{}, ErrValue, "reason"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, _, err := Encode(c.m)
			var e *Error
			if !errors.Is(err, c.err) || !errors.As(err, &e) || e.Field != c.field || e.Type != c.m.Type() {
				t.Fatalf("Encode = % x, %v; want %v in %s field %q", b, err, c.err, c.m.Type(), c.field)
			}
		})
	}
}

// TestLargestMessageFits: every message with every string at MaxString
// encodes within MaxSize, so Encode's size check guards only future fields.
func TestLargestMessageFits(t *testing.T) {
	for _, m := range samples(t, "") {
		v := reflect.ValueOf(m).Elem()
		for i := range v.NumField() {
			if v.Field(i).Kind() == reflect.String {
				v.Field(i).SetString(strings.Repeat("s", MaxString))
			}
		}
		if b, _, err := Encode(m); err != nil {
			t.Errorf("%s: %v", m.Type(), err)
		} else if len(b) > MaxSize {
			t.Errorf("%s: %d bytes", m.Type(), len(b))
		}
	}
}
