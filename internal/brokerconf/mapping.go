package brokerconf

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/forkmq/forkmq/internal/mosqconf"
	"github.com/forkmq/forkmq/internal/options"
)

// where is the section a rule reads its key from.
type where uint8

const (
	global   where = iota // the global section
	listener              // the listener's (the default listener's, without a listener line)
	security              // the listener's security keys: global, or its own with per_listener_settings
)

// rule maps one key of the file onto one option.
type rule struct {
	key  string
	flag string // the option's flag: a flag given overrides the key
	in   where
	// set reads the key from sec (it is set there) into o; a Notice it
	// returns is logged, the key's value ignored.
	set func(sec *mosqconf.Section, key string, o *options.Options) (string, error)
}

// rules is the whole mapping, in the order it is applied: a later rule
// for the same option sees what an earlier one set.
var rules = []rule{
	// mosquitto's keys.
	{"persistence_location", "state-dir", global, str(func(o *options.Options) *string { return &o.StateDir })},
	{"user", "user", global, str(func(o *options.Options) *string { return &o.User })},
	{"password_file", "password-file", security, str(func(o *options.Options) *string { return &o.PasswordFile })},
	{"acl_file", "acl-file", security, str(func(o *options.Options) *string { return &o.ACLFile })},
	{"allow_anonymous", "allow-anonymous", security, func(s *mosqconf.Section, k string, o *options.Options) (string, error) {
		var err error
		o.AllowAnon, err = s.Bool(k, o.AllowAnon)
		return "", err
	}},
	{"max_connections", "max-clients", listener, maxClients},
	{"global_max_clients", "max-clients", global, maxClients},
	{"max_inflight_messages", "max-inflight", global, func(s *mosqconf.Section, k string, o *options.Options) (string, error) {
		n, err := s.Int(k, o.MaxInflight)
		if n == 0 { // mosquitto: no limit; MQTT's packet identifiers allow this many
			n = 65535
		}
		o.MaxInflight = n
		return "", err
	}},
	{"max_queued_messages", "max-queued-messages", global, func(s *mosqconf.Section, k string, o *options.Options) (string, error) {
		n, err := s.Int(k, o.BacklogMsgs)
		if err == nil && n == 0 {
			return "", errors.New("0 (no limit) is not offered: forkmq holds a bounded backlog per client and slows its publishers when it is full; give a number of messages")
		}
		o.BacklogMsgs = n
		return "", err
	}},
	{"max_queued_bytes", "max-queued-bytes", global, func(s *mosqconf.Section, k string, o *options.Options) (string, error) {
		n, err := s.Size(k, o.BacklogBytes)
		if n == 0 { // mosquitto: no limit (its default); the message count still bounds the backlog
			n = math.MaxInt64
		}
		o.BacklogBytes = n
		return "", err
	}},
	{"max_packet_size", "max-packet-size", global, func(s *mosqconf.Section, k string, o *options.Options) (string, error) {
		n, err := s.Size(k, int64(o.MaxPacketSize))
		o.MaxPacketSize = int(n)
		return "", err
	}},
	{"message_size_limit", "max-packet-size", global, func(s *mosqconf.Section, k string, o *options.Options) (string, error) {
		n, err := s.Size(k, 0)
		if err != nil || n == 0 { // 0: no limit, mosquitto's default
			return "", err
		}
		// forkmq bounds whole packets: the largest PUBLISH that carries
		// n bytes of payload (fixed header, the longest topic, a packet
		// identifier).
		o.MaxPacketSize = int(min(int64(o.MaxPacketSize), n+maxPublishOverhead))
		return fmt.Sprintf("message_size_limit %d: forkmq bounds packets, not payloads: a PUBLISH of more than %d bytes, header and topic included, is refused", n, o.MaxPacketSize), nil
	}},
	{"sys_interval", "sys-interval", global, func(s *mosqconf.Section, k string, o *options.Options) (string, error) {
		var err error
		o.SysInterval, err = s.Duration(k, o.SysInterval)
		return "", err
	}},

	// forkmq's own keys.
	{"engine", "engine", global, func(s *mosqconf.Section, k string, o *options.Options) (string, error) {
		e, err := s.Word(k, string(o.Engine))
		o.Engine = options.Engine(e)
		return "", err
	}},
	{"worker_binary", "worker", global, str(func(o *options.Options) *string { return &o.WorkerPath })},
	{"admin_listener", "admin-listen", global, func(s *mosqconf.Section, k string, o *options.Options) (string, error) {
		var err error
		o.AdminListen, err = s.Listen(k, o.AdminListen)
		return "", err
	}},
	{"queue_budget", "queue-budget", global, func(s *mosqconf.Section, k string, o *options.Options) (string, error) {
		n, err := s.Size(k, int64(o.QueueBudget))
		o.QueueBudget = uint64(n)
		return "", err
	}},
	{"connect_timeout", "connect-timeout", global, duration(func(o *options.Options) *time.Duration { return &o.ConnectWait })},
	{"stall_timeout", "stall-timeout", global, duration(func(o *options.Options) *time.Duration { return &o.StallTimeout })},
	{"session_max_messages", "session-max-messages", global, integer(func(o *options.Options) *int { return &o.SessionMsgs })},
	{"session_max_bytes", "session-max-bytes", global, func(s *mosqconf.Section, k string, o *options.Options) (string, error) {
		var err error
		o.SessionBytes, err = s.Size(k, o.SessionBytes)
		return "", err
	}},
	{"max_subscriptions", "max-subscriptions", global, integer(func(o *options.Options) *int { return &o.MaxSubs })},
	{"max_topic_length", "max-topic-length", global, integer(func(o *options.Options) *int { return &o.MaxTopicLen })},
	{"max_topic_levels", "max-topic-levels", global, integer(func(o *options.Options) *int { return &o.MaxTopicLevel })},
	{"max_accept_rate", "max-accept-rate", global, func(s *mosqconf.Section, k string, o *options.Options) (string, error) {
		var err error
		o.AcceptRate, err = s.Float(k, o.AcceptRate)
		return "", err
	}},
	{"accept_burst", "accept-burst", global, integer(func(o *options.Options) *int { return &o.AcceptBurst })},
	{"log_level", "log-level", global, word(func(o *options.Options) *string { return &o.LogLevel })},
	{"log_format", "log-format", global, word(func(o *options.Options) *string { return &o.LogFormat })},
}

// maxPublishOverhead is what a PUBLISH carries besides its payload at
// most: a fixed header of 5 bytes, a topic of 2+65535 and a packet
// identifier of 2.
const maxPublishOverhead = 5 + 2 + 65535 + 2

// notInThisBuild are keys the file table supports for features this
// broker does not serve yet. Ignoring them would serve something else than
// the file asks for (plain MQTT instead of TLS, no bridge), so they refuse
// to start.
var notInThisBuild = map[string]string{
	"pool_size":          "this build has no worker pool",
	"worker_max_clients": "this build has no worker pool",
	"worker_uids":        "this build runs every worker as the broker's user",
}

// byFlag is the file keys of each option, for SIGHUP's log lines.
var byFlag = func() map[string]struct{ keys []string } {
	m := make(map[string]struct{ keys []string })
	for _, r := range rules {
		e := m[r.flag]
		e.keys = append(e.keys, r.key)
		m[r.flag] = e
	}
	m["listen"] = struct{ keys []string }{[]string{"listener"}}
	return m
}()

// Apply sets o from a configuration file: its listener, every supported
// key, and mosquitto 2's defaults where the file leaves them (see the
// package documentation). It returns the notices to log: the file's
// unsupported keys, and the values forkmq takes differently. A value out of
// range is a *mosqconf.Error naming its line.
func Apply(cfg *mosqconf.Config, o *options.Options) ([]mosqconf.Notice, error) {
	notices := slices.Clone(cfg.Notices)
	if err := checkStructure(cfg); err != nil {
		return nil, err
	}
	var lis *mosqconf.Listener
	o.Listen = "127.0.0.1:1883" // mosquitto 2 without a listener line: local only
	if len(cfg.Listeners) > 0 {
		lis = cfg.Listeners[0]
		o.Listen = lis.Addr
		o.AllowAnon = false // mosquitto 2 with a listener line
		o.MarkSet("allow-anonymous")
	}
	o.MarkSet("listen")
	var err error
	if o.Listeners, err = listeners(cfg, o.Listen); err != nil {
		return nil, err
	}
	sections := map[where]*mosqconf.Section{global: &cfg.Global, listener: &cfg.Default.Section, security: cfg.Security(lis)}
	if lis != nil {
		sections[listener] = &lis.Section
	}
	for _, r := range rules {
		sec := sections[r.in]
		st, ok := sec.Lookup(r.key)
		if !ok {
			continue
		}
		before := validation(*o)
		note, err := r.set(sec, r.key, o)
		if err != nil {
			var me *mosqconf.Error
			if errors.As(err, &me) {
				return nil, err
			}
			return nil, &mosqconf.Error{Pos: st.Pos, Key: st.Name, Msg: err.Error()}
		}
		o.MarkSet(r.flag)
		if after := validation(*o); len(after) > 0 {
			for _, msg := range after {
				if !slices.Contains(before, msg) {
					return nil, &mosqconf.Error{Pos: st.Pos, Key: st.Name, Msg: strings.TrimPrefix(msg, "-")}
				}
			}
		}
		if note != "" {
			notices = append(notices, mosqconf.Notice{Pos: st.Pos, Key: st.Name, Msg: note})
		}
	}
	return notices, nil
}

// checkStructure refuses what the file asks for and this broker cannot
// serve: listener keys with no listener to go to, and keys of features not
// in this build. (Bridges are the broker's to read: package bridge.)
func checkStructure(cfg *mosqconf.Config) error {
	if len(cfg.Listeners) == 1 {
		if s := cfg.Default.Settings(); len(s) > 0 {
			return &mosqconf.Error{Pos: s[0].Pos, Key: s[0].Name, Msg: fmt.Sprintf("a listener key before the listener line (%s), for mosquitto's default listener, which forkmq does not open beside it: move it under the listener line", cfg.Listeners[0].Pos)}
		}
	}
	secs := []*mosqconf.Section{&cfg.Global, &cfg.Default.Section}
	for _, l := range cfg.Listeners {
		secs = append(secs, &l.Section)
	}
	for _, s := range secs {
		for _, st := range s.Settings() {
			if why, ok := notInThisBuild[st.Key]; ok {
				return &mosqconf.Error{Pos: st.Pos, Key: st.Name, Msg: why}
			}
		}
	}
	return nil
}

// validation is o's validation errors, one message each.
func validation(o options.Options) []string {
	err := o.Validate()
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// maxClients reads max_connections or global_max_clients: -1 is
// mosquitto's "no limit", which forkmq cannot offer (it plans its queues
// for a number of clients), so the option keeps its value, with a notice.
func maxClients(s *mosqconf.Section, k string, o *options.Options) (string, error) {
	n, err := s.Int(k, o.MaxClients)
	if err != nil {
		return "", err
	}
	if n < 0 {
		return fmt.Sprintf("%s -1 (no limit): forkmq sizes its queues for a number of clients, and keeps -max-clients %d", k, o.MaxClients), nil
	}
	if n == 0 {
		return "", errors.New("0 clients: want at least 1, or -1 for forkmq's -max-clients")
	}
	if o.Set("max-clients") {
		n = min(n, o.MaxClients) // both max_connections and global_max_clients: the tighter
	}
	o.MaxClients = n
	return "", nil
}

func str(field func(*options.Options) *string) func(*mosqconf.Section, string, *options.Options) (string, error) {
	return func(s *mosqconf.Section, k string, o *options.Options) (string, error) {
		p := field(o)
		*p = s.String(k, *p)
		return "", nil
	}
}

func word(field func(*options.Options) *string) func(*mosqconf.Section, string, *options.Options) (string, error) {
	return func(s *mosqconf.Section, k string, o *options.Options) (string, error) {
		p := field(o)
		var err error
		*p, err = s.Word(k, *p)
		return "", err
	}
}

func integer(field func(*options.Options) *int) func(*mosqconf.Section, string, *options.Options) (string, error) {
	return func(s *mosqconf.Section, k string, o *options.Options) (string, error) {
		p := field(o)
		var err error
		*p, err = s.Int(k, *p)
		return "", err
	}
}

func duration(field func(*options.Options) *time.Duration) func(*mosqconf.Section, string, *options.Options) (string, error) {
	return func(s *mosqconf.Section, k string, o *options.Options) (string, error) {
		p := field(o)
		var err error
		*p, err = s.Duration(k, *p)
		return "", err
	}
}
