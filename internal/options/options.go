package options

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"
)

// Engine is how the broker moves messages between clients.
type Engine string

// The two engines.
const (
	// Process serves every client with two worker processes and moves
	// messages through POSIX message queues.
	Process Engine = "process"
	// Goroutine serves every client with two goroutines in one process and
	// moves messages through channels: the control of the experiment.
	Goroutine Engine = "goroutine"
)

// Options is everything a broker is configured with.
type Options struct {
	Engine     Engine
	Listen     string // TCP address to listen on
	StateDir   string // topic files, sessions, retained messages, spool
	MaxClients int    // clients served at once

	// The process engine's own.
	QueueBudget      uint64        // bytes of RLIMIT_MSGQUEUE the queues may use together; 0: all
	WorkerPath       string        // the worker binary; "": beside the broker
	PoolMinSpare     int           // idle worker pairs kept ready for new clients
	PoolMaxSpare     int           // idle worker pairs above which the pool shrinks
	PoolSpawnRate    int           // most pairs started per second to refill the pool (the ramp's top)
	PoolLinger       time.Duration // without a new client this long, the pool empties (0: never)
	ClientsPerWorker int           // clients a worker serves before it is replaced (0: no limit)
	WorkerUIDs       string        // "FIRST-LAST": workers run under these uids, group FIRST (root only); "": the broker's

	MaxPacketSize int           // largest packet accepted from a client
	ConnectWait   time.Duration // how long a new connection may take to send CONNECT
	StopGrace     time.Duration // how long an orderly close may take to flush
	MaxInflight   int           // unacknowledged QoS 1/2 messages sent to a client at once
	SessionMsgs   int           // most QoS 1/2 messages a persistent session stores
	SessionBytes  int64         // most bytes a persistent session stores
	BacklogMsgs   int           // messages held for a client that reads slowly
	BacklogBytes  int64         // bytes held for a client that reads slowly
	StallTimeout  time.Duration // how long a client with work pending may take nothing
	MaxSubs       int           // filters one connection may hold (0: no limit)
	MaxTopicLen   int           // bytes in a topic name or filter (0: no limit)
	MaxTopicLevel int           // levels in a topic name or filter (0: no limit)
	AcceptRate    float64       // new connections taken per second (0: no limit)
	AcceptBurst   int           // connections taken at once above the rate
	User          string        // run as this user after binding (root only)
	PasswordFile  string        // mosquitto_passwd file ("" for none)
	ACLFile       string        // mosquitto acl_file ("" for none)
	AllowAnon     bool          // clients without a user name may connect
	LogFormat     string        // auto, console or json
	LogLevel      string        // debug, info, warn or error

	// Operating the broker (issue 13): $SYS topics and the admin listener.
	SysInterval time.Duration // how often $SYS topics are published (0: never)
	AdminListen string        // address of the admin listener: /metrics, the live view ("": none)

	// Reach (issue 14): listeners besides -listen (see Endpoints).
	TLSListen, WSListen, WSSListen string     // addresses of the flags' TLS, WebSocket and WebSocket-over-TLS listeners
	CertFile, KeyFile, CAFile      string     // the flags' TLS listeners' files
	RequireCert                    bool       // clients of the flags' TLS listeners need a certificate signed by CAFile
	IdentityAsUsername             bool       // the client certificate's common name is its user name
	TLSVersion                     string     // the lowest TLS version of the flags' TLS listeners
	ProxyProtocol                  int        // PROXY protocol version of the flags' listeners (0: none)
	Listeners                      []Listener // a configuration file's listeners, the first at Listen; no flag

	set map[string]bool // flags given explicitly (Parse), for Validate
}

// MaxPacket is the largest MQTT 3.1.1 packet: a fixed header with the
// largest remaining length, 268,435,455 bytes.
const MaxPacket = 1 + 4 + 268435455

// Default returns the defaults, those of `broker` without flags.
func Default() Options {
	return Options{
		Engine:        Process,
		Listen:        ":1883",
		MaxClients:    100,
		MaxPacketSize: MaxPacket,
		ConnectWait:   10 * time.Second,
		StopGrace:     time.Second,
		MaxInflight:   20,
		SessionMsgs:   1000,
		SessionBytes:  64 << 20,
		BacklogMsgs:   1000,
		BacklogBytes:  16 << 20,
		StallTimeout:  2 * time.Second,
		MaxSubs:       1000,
		MaxTopicLen:   65535,
		AcceptRate:    500,
		AcceptBurst:   200,

		PoolMinSpare:     4,
		PoolMaxSpare:     32,
		PoolSpawnRate:    32,
		PoolLinger:       30 * time.Second,
		ClientsPerWorker: 1000,

		AllowAnon:   true,
		LogFormat:   "auto",
		LogLevel:    "info",
		SysInterval: 10 * time.Second,
	}
}

// flagDef is one option's flag: its name, usage, where it is stored, and
// the engines it applies to (nil: both).
type flagDef struct {
	name, usage string
	value       flag.Value
	only        Engine // "" for both engines
}

// defs lists every option's flag, bound to o's fields. It is the one place
// that names them.
func (o *Options) defs() []flagDef {
	return []flagDef{
		{"engine", "`engine`: process (two worker processes and a POSIX queue per client) or goroutine (two goroutines and channels per client, in one process)", (*engineValue)(&o.Engine), ""},
		{"listen", "TCP `address` to listen on (port 0 picks a free port; the log says which)", (*stringValue)(&o.Listen), ""},
		{"state-dir", "`directory` for topic files, sessions, retained messages and spooled payloads (default /dev/shm/forkmq-PORT, or $TMPDIR/forkmq-PORT without /dev/shm)", (*stringValue)(&o.StateDir), ""},
		{"max-clients", "most clients served at once; the process engine sizes each client's queue from the RLIMIT_MSGQUEUE budget shared by this many", (*intValue)(&o.MaxClients), ""},
		{"queue-budget", "`bytes` of the RLIMIT_MSGQUEUE budget this broker's queues may use together (default: all; give less to run several brokers as one user)", (*uint64Value)(&o.QueueBudget), Process},
		{"worker", "worker binary `path` (default: 'worker' beside the broker)", (*stringValue)(&o.WorkerPath), Process},
		{"pool-min-spare", "idle worker `pairs` kept ready for new clients; fewer are refilled at 1, 2, 4 … -pool-spawn-rate pairs a second", (*intValue)(&o.PoolMinSpare), Process},
		{"pool-max-spare", "idle worker `pairs` above which the pool stops one pair a second", (*intValue)(&o.PoolMaxSpare), Process},
		{"pool-spawn-rate", "most worker `pairs` started per second to refill the pool (clients waiting for a pair start theirs at once)", (*intValue)(&o.PoolSpawnRate), Process},
		{"pool-linger", "without a new client for this long the pool empties, one pair a second, and an idle broker is one process again, besides its $SYS worker (0: keep -pool-min-spare pairs)", (*durationValue)(&o.PoolLinger), Process},
		{"worker-uids", "when started as root, run the workers under the uids `FIRST-LAST` (group FIRST), a client's pair under one of them: each uid has its own RLIMIT_MSGQUEUE budget for the queues its workers make, and workers of different uids cannot signal each other or read each other's queues; the supervisor stays root", (*stringValue)(&o.WorkerUIDs), Process},
		{"clients-per-worker", "clients a worker serves before it is replaced by a fresh one (0: no limit)", (*intValue)(&o.ClientsPerWorker), Process},
		{"max-packet-size", "largest packet accepted from a client, in `bytes`", (*intValue)(&o.MaxPacketSize), ""},
		{"connect-timeout", "how long a new connection may take to send CONNECT", (*durationValue)(&o.ConnectWait), ""},
		{"stop-grace", "how long a connection that ends in order, or a worker asked to stop, gets to finish", (*durationValue)(&o.StopGrace), ""},
		{"max-inflight", "unacknowledged QoS 1/2 messages sent to a client at once; more wait their turn", (*intValue)(&o.MaxInflight), ""},
		{"session-max-messages", "most QoS 1/2 messages a persistent session stores (offline or slow); more are dropped and logged", (*intValue)(&o.SessionMsgs), ""},
		{"session-max-bytes", "most bytes a persistent session stores; more are dropped and logged", (*int64Value)(&o.SessionBytes), ""},
		{"max-queued-messages", "messages held for a client that reads slowly; when they are reached its publishers wait (back-pressure)", (*intValue)(&o.BacklogMsgs), ""},
		{"max-queued-bytes", "bytes held for a client that reads slowly (see -max-queued-messages)", (*int64Value)(&o.BacklogBytes), ""},
		{"stall-timeout", "how long a client whose backlog is full may read nothing before it counts as stalled: then its QoS 0 messages are dropped (and counted), a QoS 1/2 message disconnects it, and its publishers wait no more", (*durationValue)(&o.StallTimeout), ""},
		{"max-subscriptions", "topic filters one connection may hold; more get SUBACK 0x80 (0: no limit)", (*intValue)(&o.MaxSubs), ""},
		{"max-topic-length", "bytes in a topic name or filter; a longer filter gets SUBACK 0x80, a PUBLISH closes the connection (0: no limit)", (*intValue)(&o.MaxTopicLen), ""},
		{"max-topic-levels", "levels in a topic name or filter, refused like -max-topic-length (0: no limit)", (*intValue)(&o.MaxTopicLevel), ""},
		{"max-accept-rate", "new connections taken per second, with bursts of -accept-burst; more get CONNACK 3 (0: no limit)", (*float64Value)(&o.AcceptRate), ""},
		{"accept-burst", "connections taken at once above -max-accept-rate", (*intValue)(&o.AcceptBurst), ""},
		{"user", "when started as root, run as this `user` after binding the port (the workers too)", (*stringValue)(&o.User), ""},
		{"password-file", "user names and passwords, in mosquitto_passwd's format (see docs/ACCESS.md); re-read on SIGHUP", (*stringValue)(&o.PasswordFile), ""},
		{"acl-file", "topic access rules, in mosquitto's acl_file format; re-read on SIGHUP", (*stringValue)(&o.ACLFile), ""},
		{"allow-anonymous", "let clients connect without a user name", (*boolValue)(&o.AllowAnon), ""},
		{"log-format", "log format: auto (console on a terminal, json otherwise), console or json", (*stringValue)(&o.LogFormat), ""},
		{"log-level", "log level: debug (every packet), info, warn or error", (*stringValue)(&o.LogLevel), ""},

		// Operating the broker.
		{"sys-interval", "how often the retained $SYS/broker/... topics are published, as mosquitto's sys_interval (0: never)", (*durationValue)(&o.SysInterval), ""},
		{"admin-listen", "TCP `address` of the admin listener: Prometheus /metrics, the live view at /, /status (default: none)", (*stringValue)(&o.AdminListen), ""},

		// Reach: TLS, WebSocket and PROXY-protocol listeners (goroutine engine).
		{"tls-listen", "TCP `address` of a TLS listener (MQTT over TLS, as mosquitto's certfile/keyfile listener), besides -listen", (*stringValue)(&o.TLSListen), ""},
		{"ws-listen", "TCP `address` of a WebSocket listener (ws://, subprotocol mqtt)", (*stringValue)(&o.WSListen), ""},
		{"wss-listen", "TCP `address` of a WebSocket listener over TLS (wss://)", (*stringValue)(&o.WSSListen), ""},
		{"certfile", "PEM `file` of the TLS listeners' certificate chain; re-read on SIGHUP", (*stringValue)(&o.CertFile), ""},
		{"keyfile", "PEM `file` of the TLS listeners' private key; re-read on SIGHUP", (*stringValue)(&o.KeyFile), ""},
		{"cafile", "PEM `file` of the CAs that sign client certificates", (*stringValue)(&o.CAFile), ""},
		{"require-certificate", "TLS clients must present a certificate signed by -cafile", (*boolValue)(&o.RequireCert), ""},
		{"use-identity-as-username", "a TLS client's user name is its certificate's common name (needs -require-certificate)", (*boolValue)(&o.IdentityAsUsername), ""},
		{"tls-version", "lowest TLS `version`: tlsv1.2 or tlsv1.3", (*stringValue)(&o.TLSVersion), ""},
		{"proxy-protocol", "PROXY protocol `version` (1 or 2) every connection to -listen, -tls-listen, -ws-listen and -wss-listen starts with; the header's address is the client's (0: none)", (*intValue)(&o.ProxyProtocol), ""},
	}
}

// Register defines every option's flag on fs, bound to o's fields, with o's
// current values as the defaults shown by -h.
func (o *Options) Register(fs *flag.FlagSet) {
	for _, d := range o.defs() {
		fs.Var(d.value, d.name, d.usage)
	}
}

// Parse reads options from command-line arguments, starting from the
// defaults, and validates them.
func Parse(fs *flag.FlagSet, args []string) (Options, error) {
	return ParseOver(fs, args, Default())
}

// ParseOver reads options from command-line arguments over base (the
// defaults with a configuration file applied): a flag given overrides
// base's value. It validates the result.
func ParseOver(fs *flag.FlagSet, args []string, base Options) (Options, error) {
	o := base
	o.set = maps.Clone(base.set)
	if o.set == nil {
		o.set = map[string]bool{}
	}
	o.Register(fs)
	if err := fs.Parse(args); err != nil {
		return Options{}, err
	}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	return o, o.Validate()
}

// SetArgs sets the options named by flags of the form Args writes,
// "-name=value", over o, and marks them given (see Set). It is a worker's
// reading of its command line (spawn.Parse): package flag's FlagSet would
// build a map, a Flag and a default's text for every option first, in each
// of thousands of worker processes. It does not validate.
func (o *Options) SetArgs(args []string) error {
	defs := o.defs()
	if o.set == nil {
		o.set = make(map[string]bool, len(defs))
	}
next:
	for _, arg := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(arg, "-"), "=")
		if !ok || !strings.HasPrefix(arg, "-") {
			return fmt.Errorf("argument %q: want -name=value", arg)
		}
		for _, d := range defs {
			if d.name == name {
				if err := d.value.Set(value); err != nil {
					return fmt.Errorf("invalid value %q for flag -%s: %w", value, name, err)
				}
				o.set[name] = true
				continue next
			}
		}
		return fmt.Errorf("flag provided but not defined: -%s", name)
	}
	return nil
}

// MarkSet records that an option was given by the flag of that name's
// other source (a configuration file), so that Validate judges it as a
// flag given.
func (o *Options) MarkSet(flagName string) {
	if o.set == nil {
		o.set = map[string]bool{}
	}
	o.set[flagName] = true
}

// Args returns the flags that give a worker these options, whatever its
// defaults: every option, explicitly.
func (o Options) Args() []string {
	var args []string
	for _, d := range o.defs() {
		if d.only != "" && d.only != o.Engine {
			continue // a worker of this engine does not take it
		}
		if listenerFlags[d.name] {
			continue // the supervisor's: workers get their clients' sockets handed over
		}
		args = append(args, "-"+d.name+"="+d.value.String())
	}
	return args
}

// Set reports whether the named option was given on the command line.
func (o Options) Set(name string) bool { return o.set[name] }

// Validate reports every option out of its range, and every option given
// that the engine does not have.
func (o Options) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(o.Engine == Process || o.Engine == Goroutine, "-engine %q: want process or goroutine", o.Engine)
	if o.Listen == "" {
		errs = append(errs, errNoListen)
	}
	check(o.MaxClients >= 1, "-max-clients %d: want at least 1", o.MaxClients)
	check(o.MaxPacketSize >= 2 && o.MaxPacketSize <= MaxPacket, "-max-packet-size %d: want 2…%d", o.MaxPacketSize, MaxPacket)
	check(o.ConnectWait > 0, "-connect-timeout %v: want more than 0", o.ConnectWait)
	check(o.StopGrace > 0, "-stop-grace %v: want more than 0", o.StopGrace)
	check(o.MaxInflight >= 1 && o.MaxInflight <= 65535, "-max-inflight %d: want 1…65535", o.MaxInflight)
	check(o.SessionMsgs >= 1 && o.SessionBytes >= 1, "-session-max-messages %d, -session-max-bytes %d: want at least 1", o.SessionMsgs, o.SessionBytes)
	check(o.BacklogMsgs >= 1 && o.BacklogBytes >= 1, "-max-queued-messages %d, -max-queued-bytes %d: want at least 1", o.BacklogMsgs, o.BacklogBytes)
	check(o.StallTimeout > 0, "-stall-timeout %v: want more than 0", o.StallTimeout)
	check(o.MaxSubs >= 0 && o.MaxTopicLen >= 0 && o.MaxTopicLevel >= 0, "-max-subscriptions, -max-topic-length, -max-topic-levels: want 0 (no limit) or more")
	check(o.PoolMinSpare >= 0 && o.PoolMaxSpare >= max(o.PoolMinSpare, 1), "-pool-min-spare %d, -pool-max-spare %d: want 0 or more, and a maximum of at least 1 and the minimum", o.PoolMinSpare, o.PoolMaxSpare)
	if o.WorkerUIDs != "" {
		first, last, err := ParseUIDRange(o.WorkerUIDs)
		check(err == nil, "-worker-uids %q: %v", o.WorkerUIDs, err)
		check(err != nil || last-first < 1024, "-worker-uids %q: at most 1024 uids", o.WorkerUIDs)
		check(o.User == "", "-worker-uids and -user: give one (with -worker-uids the supervisor stays root and the workers run unprivileged)")
	}
	check(o.PoolSpawnRate >= 1, "-pool-spawn-rate %d: want at least 1", o.PoolSpawnRate)
	check(o.PoolLinger >= 0 && o.ClientsPerWorker >= 0, "-pool-linger %v, -clients-per-worker %d: want 0 or more", o.PoolLinger, o.ClientsPerWorker)
	check(o.AcceptRate >= 0 && o.AcceptBurst >= 1, "-max-accept-rate %g, -accept-burst %d: want a rate of 0 or more and a burst of at least 1", o.AcceptRate, o.AcceptBurst)
	check(o.SysInterval >= 0, "-sys-interval %v: want 0 (never) or more", o.SysInterval)
	check(o.LogFormat == "auto" || o.LogFormat == "console" || o.LogFormat == "json", "-log-format %q: want auto, console or json", o.LogFormat)
	errs = append(errs, o.validateListeners()...)
	for _, d := range o.defs() {
		if d.only != "" && d.only != o.Engine && o.set[d.name] {
			errs = append(errs, fmt.Errorf("-%s: only the %s engine has it, not the %s engine", d.name, d.only, o.Engine))
		}
	}
	return errors.Join(errs...)
}

// The flag.Value types of the option fields. (flag's own are not exported.)
type (
	stringValue   string
	intValue      int
	int64Value    int64
	uint64Value   uint64
	float64Value  float64
	boolValue     bool
	durationValue time.Duration
	engineValue   Engine
)

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }

func (v *intValue) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, strconv.IntSize)
	*v = intValue(n)
	return numError(err)
}
func (v *intValue) String() string { return strconv.Itoa(int(*v)) }

func (v *int64Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, 64)
	*v = int64Value(n)
	return numError(err)
}
func (v *int64Value) String() string { return strconv.FormatInt(int64(*v), 10) }

func (v *uint64Value) Set(s string) error {
	n, err := strconv.ParseUint(s, 0, 64)
	*v = uint64Value(n)
	return numError(err)
}
func (v *uint64Value) String() string { return strconv.FormatUint(uint64(*v), 10) }

func (v *float64Value) Set(s string) error {
	n, err := strconv.ParseFloat(s, 64)
	*v = float64Value(n)
	return numError(err)
}
func (v *float64Value) String() string { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	*v = boolValue(b)
	return numError(err)
}
func (v *boolValue) String() string   { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) IsBoolFlag() bool { return true }

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	*v = durationValue(d)
	return err
}
func (v *durationValue) String() string { return time.Duration(*v).String() }

func (v *engineValue) Set(s string) error { *v = engineValue(s); return nil }
func (v *engineValue) String() string     { return string(*v) }

// numError strips strconv's wrapping: flag adds the flag's name and value.
func numError(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return ne.Err
	}
	return err
}

// Difference is one option whose value differs between two Options.
type Difference struct {
	Flag     string // the option's flag name
	Old, New string // the values as flags write them
}

// Diff lists the options whose values differ from a to b, in flag order
// (a SIGHUP's re-read configuration against the running one).
func Diff(a, b Options) []Difference {
	da, db := a.defs(), b.defs()
	var out []Difference
	for i := range da {
		if x, y := da[i].value.String(), db[i].value.String(); x != y {
			out = append(out, Difference{Flag: da[i].name, Old: x, New: y})
		}
	}
	return out
}

// ParseUIDRange parses -worker-uids: "FIRST-LAST", both above 0, FIRST at
// most LAST.
func ParseUIDRange(s string) (first, last uint32, err error) {
	a, b, ok := strings.Cut(s, "-")
	f, errA := strconv.ParseUint(a, 10, 32)
	l, errB := strconv.ParseUint(b, 10, 32)
	if !ok || errA != nil || errB != nil || f == 0 || f > l {
		return 0, 0, fmt.Errorf("want FIRST-LAST, two uids above 0, FIRST at most LAST")
	}
	return uint32(f), uint32(l), nil
}
