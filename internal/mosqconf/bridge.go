package mosqconf

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/forkmq/forkmq/internal/topic"
)

// Direction is which way a bridge topic carries messages.
type Direction uint8

const (
	Out  Direction = iota + 1 // local to remote (mosquitto's default)
	In                        // remote to local
	Both                      // both ways
)

func (d Direction) String() string {
	switch d {
	case Out:
		return "out"
	case In:
		return "in"
	case Both:
		return "both"
	}
	return "direction?"
}

// BridgeTopic is one "topic" line of a connection block:
//
//	topic PATTERN [[[out|in|both] QOS] LOCAL-PREFIX REMOTE-PREFIX]
//
// A prefix written "" is empty. The local broker sees LocalPrefix+Pattern,
// the remote one RemotePrefix+Pattern (mosquitto.conf(5), "topic").
type BridgeTopic struct {
	Pattern      string
	Direction    Direction
	QoS          byte
	LocalPrefix  string
	RemotePrefix string
	Pos          Pos
}

// LocalFilter is the filter the bridge matches on the local broker.
func (t BridgeTopic) LocalFilter() string { return t.LocalPrefix + t.Pattern }

// RemoteFilter is the filter the bridge matches on the remote broker.
func (t BridgeTopic) RemoteFilter() string { return t.RemotePrefix + t.Pattern }

// emptyMarker is how a file writes an empty pattern or prefix.
const emptyMarker = `""`

func unquoteEmpty(w string) string {
	if w == emptyMarker {
		return ""
	}
	return w
}

// parseBridgeTopic reads a topic line's value, with mosquitto's rules for
// which combinations of empty pattern and prefixes are valid.
func parseBridgeTopic(value string) (BridgeTopic, error) {
	// The pattern is often "#", so a comment can only start after the
	// direction (as in mosquitto).
	f := strings.Fields(value)
	if len(f) > 2 {
		f = append(f[:2], words(strings.Join(f[2:], " "))...)
	}
	if len(f) == 0 {
		return BridgeTopic{}, errors.New("empty value: want PATTERN [[[out|in|both] QOS] LOCAL-PREFIX REMOTE-PREFIX]")
	}
	if len(f) > 5 {
		return BridgeTopic{}, fmt.Errorf("want PATTERN [[[out|in|both] QOS] LOCAL-PREFIX REMOTE-PREFIX], found %q", value)
	}
	t := BridgeTopic{Pattern: unquoteEmpty(f[0]), Direction: Out}
	if len(f) > 1 {
		switch strings.ToLower(f[1]) { // mosquitto compares directions case-insensitively
		case "out":
			t.Direction = Out
		case "in":
			t.Direction = In
		case "both":
			t.Direction = Both
		default:
			return t, fmt.Errorf("direction %q: want out, in or both", f[1])
		}
	}
	if len(f) > 2 {
		q, err := strconv.Atoi(f[2])
		if err != nil || q < 0 || q > 2 {
			return t, fmt.Errorf("QoS %q: want 0, 1 or 2", f[2])
		}
		t.QoS = byte(q)
	}
	if len(f) > 3 {
		t.LocalPrefix = unquoteEmpty(f[3])
	}
	if len(f) > 4 {
		t.RemotePrefix = unquoteEmpty(f[4])
	}
	if t.Pattern == "" && (t.LocalPrefix == "" || t.RemotePrefix == "") {
		return t, errors.New(`an empty pattern ("") needs both a local and a remote prefix: it maps one local topic to one remote topic`)
	}
	for _, p := range []struct{ name, v string }{{"local prefix", t.LocalPrefix}, {"remote prefix", t.RemotePrefix}} {
		if strings.ContainsAny(p.v, "+#") {
			return t, fmt.Errorf("%s %q: a prefix may not hold a wildcard", p.name, p.v)
		}
	}
	for _, f := range []string{t.LocalFilter(), t.RemoteFilter()} {
		if err := topic.ValidateFilter(f); err != nil {
			return t, fmt.Errorf("topic %q: %w", f, err)
		}
	}
	return t, nil
}

func checkBridgeTopic(value string) error {
	_, err := parseBridgeTopic(value)
	return err
}

// parseAddresses reads an address line, "HOST[:PORT] [HOST[:PORT]…]", as
// host:port strings; the port defaults to 1883. Like mosquitto, the port is
// after the last colon, so an IPv6 address needs one (or brackets).
func parseAddresses(value string) ([]string, error) {
	f := words(value)
	if len(f) == 0 {
		return nil, errors.New("empty value: want HOST[:PORT] …")
	}
	out := make([]string, 0, len(f))
	for _, a := range f {
		host, port := a, "1883"
		if strings.HasPrefix(a, "[") {
			h, p, err := net.SplitHostPort(a)
			if err != nil {
				return nil, fmt.Errorf("address %q: %w", a, err)
			}
			host, port = h, p
		} else if i := strings.LastIndexByte(a, ':'); i >= 0 {
			host, port = a[:i], a[i+1:]
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("address %q: port %q: want 1…65535", a, port)
		}
		if host == "" {
			return nil, fmt.Errorf("address %q: no host", a)
		}
		out = append(out, net.JoinHostPort(host, port))
	}
	return out, nil
}

func checkAddresses(value string) error {
	_, err := parseAddresses(value)
	return err
}

// Backoff is a bridge's restart_timeout: a constant delay (Base == Cap) or
// mosquitto's decorrelated jitter between Base and Cap.
type Backoff struct {
	Base, Cap time.Duration
}

// DefaultBackoff is mosquitto's default restart_timeout: jitter from 5 s
// up to 30 s.
var DefaultBackoff = Backoff{Base: 5 * time.Second, Cap: 30 * time.Second}

// parseRestartTimeout reads "CONSTANT" or "BASE CAP", in seconds (or Go
// durations).
func parseRestartTimeout(value string) (Backoff, error) {
	f := words(value)
	if len(f) == 0 || len(f) > 2 {
		return Backoff{}, fmt.Errorf("want CONSTANT or BASE CAP, found %q", value)
	}
	base, err := parseDuration(f[0])
	if err != nil {
		return Backoff{}, err
	}
	if base < time.Second {
		return Backoff{}, fmt.Errorf("%v: want at least 1s", base)
	}
	b := Backoff{Base: base, Cap: base}
	if len(f) == 2 {
		if b.Cap, err = parseDuration(f[1]); err != nil {
			return Backoff{}, err
		}
		if b.Cap < b.Base {
			return Backoff{}, fmt.Errorf("cap %v is below base %v", b.Cap, b.Base)
		}
	}
	return b, nil
}

func checkRestartTimeout(value string) error {
	_, err := parseRestartTimeout(value)
	return err
}
