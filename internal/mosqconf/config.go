package mosqconf

import (
	"fmt"
	"strconv"
	"time"
)

// Pos is where a line is: a file and a line number counted from 1.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.File == "" {
		return "line " + strconv.Itoa(p.Line)
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// Error is a line forkmq refuses to start with: an unknown key, a bad
// value, a key outside the block it belongs to.
type Error struct {
	Pos Pos
	Key string // the key as written; empty when the line has none
	Msg string
}

func (e *Error) Error() string {
	if e.Key == "" {
		return e.Pos.String() + ": " + e.Msg
	}
	return e.Pos.String() + ": " + e.Key + ": " + e.Msg
}

// Notice is a line forkmq reads and ignores, for the caller to log once:
// a mosquitto key it does not support, an include_dir it does not follow.
type Notice struct {
	Pos Pos
	Key string
	Msg string
}

func (n Notice) String() string { return n.Pos.String() + ": " + n.Msg }

// Setting is one key given a value on one line.
type Setting struct {
	Key   string // the key's name in the table (an alias is read as its key)
	Name  string // the key as written in the file
	Value string // the rest of the line, blanks trimmed
	Pos   Pos
}

// errorf is an *Error about this setting.
func (s Setting) errorf(format string, args ...any) *Error {
	return &Error{Pos: s.Pos, Key: s.Name, Msg: fmt.Sprintf(format, args...)}
}

func (s Setting) wrap(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Pos: s.Pos, Key: s.Name, Msg: err.Error()}
}

// Section is the settings of one scope — the global one, a listener or a
// bridge — in file order.
type Section struct {
	settings []Setting
}

// Settings returns every setting of the section in file order.
func (s *Section) Settings() []Setting { return s.settings }

// Lookup returns the setting that counts for a key: the last one given.
func (s *Section) Lookup(key string) (Setting, bool) {
	for i := len(s.settings) - 1; i >= 0; i-- {
		if s.settings[i].Key == key {
			return s.settings[i], true
		}
	}
	return Setting{}, false
}

// All returns every setting of a repeatable key (a bridge's topics), in
// file order.
func (s *Section) All(key string) []Setting {
	var out []Setting
	for _, st := range s.settings {
		if st.Key == key {
			out = append(out, st)
		}
	}
	return out
}

// Has reports whether the key is set in the section.
func (s *Section) Has(key string) bool {
	_, ok := s.Lookup(key)
	return ok
}

func (s *Section) add(st Setting) { s.settings = append(s.settings, st) }

// The getters below return def when the key is not set, so that a caller
// can read the file over its defaults: cfg.X, err = sec.Int("key", cfg.X).
// A value the getter cannot read is an *Error naming file:line. Values of
// supported keys were checked when the file was read, so these errors
// mean a getter of the wrong kind was asked.

// String returns a string value: the rest of the line.
func (s *Section) String(key, def string) string {
	if st, ok := s.Lookup(key); ok {
		return st.Value
	}
	return def
}

// Word returns a one-word value (an enumeration), without a trailing
// comment.
func (s *Section) Word(key, def string) (string, error) { return get(s, key, def, oneWord) }

// Bool returns a boolean written as mosquitto writes it: true, false, 1, 0.
func (s *Section) Bool(key string, def bool) (bool, error) { return get(s, key, def, parseBool) }

// Int returns a decimal integer.
func (s *Section) Int(key string, def int) (int, error) {
	return get(s, key, def, func(v string) (int, error) {
		n, err := parseInt(v)
		if err == nil && int64(int(n)) != n {
			err = fmt.Errorf("%d is out of range", n)
		}
		return int(n), err
	})
}

// Float returns a non-negative decimal number.
func (s *Section) Float(key string, def float64) (float64, error) {
	return get(s, key, def, parseFloat)
}

// Duration returns whole seconds (mosquitto's unit) or a Go duration.
func (s *Section) Duration(key string, def time.Duration) (time.Duration, error) {
	return get(s, key, def, parseDuration)
}

// Size returns bytes, written plain or with KiB, MiB or GiB.
func (s *Section) Size(key string, def int64) (int64, error) { return get(s, key, def, parseSize) }

// Listen returns a "PORT [ADDRESS]" value as host:port for net.Listen.
func (s *Section) Listen(key, def string) (string, error) {
	return get(s, key, def, func(v string) (string, error) {
		_, addr, err := parseListen(v)
		return addr, err
	})
}

// get reads the setting that counts for key with parse, or returns def
// when the key is not set.
func get[T any](s *Section, key string, def T, parse func(string) (T, error)) (T, error) {
	st, ok := s.Lookup(key)
	if !ok {
		return def, nil
	}
	v, err := parse(st.Value)
	return v, st.wrap(err)
}

// Range returns a "FIRST-LAST" value; ok is false when the key is not set.
func (s *Section) Range(key string) (lo, hi uint32, ok bool, err error) {
	st, ok := s.Lookup(key)
	if !ok {
		return 0, 0, false, nil
	}
	lo, hi, err = parseRange(st.Value)
	return lo, hi, true, st.wrap(err)
}

// Listener is a "listener PORT [ADDRESS]" line and the keys of listener
// scope that follow it.
type Listener struct {
	Port    int
	Address string // as written; "" listens on every interface
	Addr    string // host:port for net.Listen
	Pos     Pos    // the listener line; zero for the default listener
	Section
}

// Bridge is a "connection NAME" line and the keys of bridge scope that
// follow it.
type Bridge struct {
	Name string
	Pos  Pos
	Section
}

// Topics returns the bridge's topic lines, parsed.
func (b *Bridge) Topics() ([]BridgeTopic, error) {
	var out []BridgeTopic
	for _, st := range b.All("topic") {
		t, err := parseBridgeTopic(st.Value)
		if err != nil {
			return nil, st.wrap(err)
		}
		t.Pos = st.Pos
		out = append(out, t)
	}
	return out, nil
}

// Addresses returns the remote brokers of the address line as host:port,
// the first one the main one; nil when the line is missing.
func (b *Bridge) Addresses() ([]string, error) {
	st, ok := b.Lookup("address")
	if !ok {
		return nil, nil
	}
	a, err := parseAddresses(st.Value)
	return a, st.wrap(err)
}

// RestartTimeout returns the bridge's reconnection back-off, DefaultBackoff
// when restart_timeout is not given.
func (b *Bridge) RestartTimeout() (Backoff, error) {
	st, ok := b.Lookup("restart_timeout")
	if !ok {
		return DefaultBackoff, nil
	}
	bo, err := parseRestartTimeout(st.Value)
	return bo, st.wrap(err)
}

// Config is a configuration file as read: where each setting belongs, with
// the line it came from.
type Config struct {
	Path  string   // the main file
	Files []string // every file read, the main one first, in reading order

	// PerListenerSettings is per_listener_settings: whether the security
	// keys are each listener's (see Security).
	PerListenerSettings bool

	Global    Section     // keys of global scope (and security keys, without per_listener_settings)
	Default   Listener    // listener keys given before any listener line: mosquitto's default listener
	Listeners []*Listener // in file order
	Bridges   []*Bridge   // in file order

	Notices []Notice // lines read and ignored, for the caller to log
}

// Security returns the section holding a listener's security keys
// (password_file, acl_file, allow_anonymous): the listener's own with
// per_listener_settings true, the global one otherwise. A nil listener
// means the default listener.
func (c *Config) Security(l *Listener) *Section {
	if !c.PerListenerSettings {
		return &c.Global
	}
	if l == nil {
		return &c.Default.Section
	}
	return &l.Section
}
