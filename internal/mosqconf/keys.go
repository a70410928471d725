package mosqconf

import "strings"

// Scope is where a key applies.
type Scope uint8

const (
	// ScopeGlobal keys apply to the whole broker, wherever they are written.
	ScopeGlobal Scope = iota + 1
	// ScopeListener keys belong to the last listener line (before any, to
	// the default listener).
	ScopeListener
	// ScopeSecurity keys are global, or the listener's with
	// per_listener_settings true.
	ScopeSecurity
	// ScopeBridge keys belong to the last connection line.
	ScopeBridge
)

func (s Scope) String() string {
	switch s {
	case ScopeGlobal:
		return "global"
	case ScopeListener:
		return "listener"
	case ScopeSecurity:
		return "security"
	case ScopeBridge:
		return "bridge"
	}
	return "scope?"
}

// Kind is how a key's value is written, and so which getter reads it.
type Kind uint8

const (
	KindString   Kind = iota + 1 // the rest of the line (paths, names)
	KindBool                     // true, false, 1 or 0
	KindInt                      // a decimal integer
	KindFloat                    // a decimal number
	KindDuration                 // whole seconds (mosquitto's way), or a Go duration such as 250ms or 1m30s
	KindSize                     // bytes, or a whole number of KiB, MiB or GiB
	KindEnum                     // one of Spec.Enum
	KindListen                   // PORT [ADDRESS]
	KindRange                    // FIRST-LAST, two non-negative integers
	KindWords                    // several words, checked by the key's own rule (topic, address, restart_timeout)
)

// Spec describes one key of the table.
type Spec struct {
	Key       string
	Scope     Scope
	Kind      Kind
	Supported bool     // forkmq applies it; otherwise it is ignored with a Notice
	Repeat    bool     // may be given several times in one section; every line is kept
	Live      bool     // a SIGHUP can apply a new value without a restart
	Min, Max  int64    // bounds of an Int or Size, in its unit; of a Duration, in seconds (Max 0: none)
	Enum      []string // the values of an Enum
	Why       string   // unsupported: why, and what forkmq does instead

	check func(value string) error // KindWords: the key's own rule
}

// Reasons shared by groups of unsupported keys.
const (
	whyMQTT5     = "an MQTT 5 feature; forkmq speaks MQTT 3.1.1"
	whyPlugins   = "forkmq loads no plugins; access control is password_file and acl_file"
	whyPSK       = "TLS-PSK is not supported; use certificates (certfile, keyfile, cafile)"
	whyLog       = "forkmq logs to stderr; see log_level and log_format"
	whyPersist   = "forkmq keeps sessions and retained messages as files under persistence_location (its state directory) at all times"
	whyTLS       = "forkmq's TLS listeners take certfile, keyfile, cafile, require_certificate, use_identity_as_username and tls_version"
	whyBridgeTLS = "forkmq's bridges take bridge_cafile, bridge_certfile and bridge_keyfile"
	whyBridge    = "forkmq's bridges take address, topic, remote_clientid, remote_username, remote_password, cleansession, keepalive_interval and restart_timeout"
	whyWS        = "forkmq's WebSocket listeners take no options beyond protocol websockets"
	whyDeprec    = "deprecated by mosquitto 2; write listener PORT [ADDRESS]"
	whyNonStd    = "a non-standard mosquitto behaviour forkmq does not offer"
)

// table is every key mosquitto 2.x reads from mosquitto.conf, and forkmq's
// own, by name. Written from mosquitto.conf(5) of mosquitto 2.0 and 2.1.
var table = buildTable(
	// Structure: read by the parser itself.
	spec("include_dir", ScopeGlobal, KindString).repeat(),
	spec("listener", ScopeGlobal, KindListen).repeat(),
	spec("connection", ScopeGlobal, KindString).repeat(),
	spec("per_listener_settings", ScopeGlobal, KindBool),

	// General options forkmq supports (issue 13).
	spec("acl_file", ScopeSecurity, KindString).live(),
	spec("password_file", ScopeSecurity, KindString).live(),
	spec("allow_anonymous", ScopeSecurity, KindBool).live(),
	spec("max_inflight_messages", ScopeGlobal, KindInt).bounds(0, 65535),
	spec("max_queued_messages", ScopeGlobal, KindInt).bounds(0, 1<<31-1),
	spec("max_queued_bytes", ScopeGlobal, KindSize).bounds(0, 1<<62),
	spec("message_size_limit", ScopeGlobal, KindSize).bounds(0, 268435455),
	spec("max_packet_size", ScopeGlobal, KindSize).bounds(20, 1+4+268435455),
	spec("global_max_clients", ScopeGlobal, KindInt).bounds(-1, 1<<31-1),
	spec("persistence_location", ScopeGlobal, KindString),
	spec("sys_interval", ScopeGlobal, KindDuration).bounds(0, 65535).live(),
	spec("user", ScopeGlobal, KindString),

	// Listener options forkmq supports (issues 13 and 14).
	spec("max_connections", ScopeListener, KindInt).bounds(-1, 1<<31-1),
	spec("protocol", ScopeListener, KindEnum).oneOf("mqtt", "websockets"),
	spec("enable_proxy_protocol", ScopeListener, KindInt).bounds(1, 2),
	spec("certfile", ScopeListener, KindString).live(),
	spec("keyfile", ScopeListener, KindString).live(),
	spec("cafile", ScopeListener, KindString),
	spec("require_certificate", ScopeListener, KindBool),
	spec("use_identity_as_username", ScopeListener, KindBool),
	spec("tls_version", ScopeListener, KindEnum).oneOf("tlsv1.2", "tlsv1.3"),

	// Bridge options forkmq supports (issue 14).
	spec("address", ScopeBridge, KindWords).rule(checkAddresses),
	spec("topic", ScopeBridge, KindWords).repeat().rule(checkBridgeTopic),
	spec("remote_clientid", ScopeBridge, KindString),
	spec("remote_username", ScopeBridge, KindString),
	spec("remote_password", ScopeBridge, KindString),
	spec("cleansession", ScopeBridge, KindBool),
	spec("keepalive_interval", ScopeBridge, KindDuration).bounds(0, 65535),
	spec("restart_timeout", ScopeBridge, KindWords).rule(checkRestartTimeout),
	spec("bridge_cafile", ScopeBridge, KindString),
	spec("bridge_certfile", ScopeBridge, KindString),
	spec("bridge_keyfile", ScopeBridge, KindString),

	// forkmq's own keys, for what mosquitto has no word for.
	spec("engine", ScopeGlobal, KindEnum).oneOf("process", "goroutine"),
	spec("pool_size", ScopeGlobal, KindInt).bounds(0, 1<<20),
	spec("worker_max_clients", ScopeGlobal, KindInt).bounds(0, 1<<31-1),
	spec("worker_uids", ScopeGlobal, KindRange),
	spec("worker_binary", ScopeGlobal, KindString),
	spec("admin_listener", ScopeGlobal, KindListen),
	spec("queue_budget", ScopeGlobal, KindSize).bounds(0, 1<<62),
	spec("connect_timeout", ScopeGlobal, KindDuration),
	spec("stall_timeout", ScopeGlobal, KindDuration),
	spec("session_max_messages", ScopeGlobal, KindInt).bounds(0, 1<<31-1),
	spec("session_max_bytes", ScopeGlobal, KindSize).bounds(0, 1<<62),
	spec("max_subscriptions", ScopeGlobal, KindInt).bounds(0, 1<<31-1),
	spec("max_topic_length", ScopeGlobal, KindInt).bounds(0, 65535),
	spec("max_topic_levels", ScopeGlobal, KindInt).bounds(0, 65535),
	spec("max_accept_rate", ScopeGlobal, KindFloat),
	spec("accept_burst", ScopeGlobal, KindInt).bounds(0, 1<<31-1),
	spec("log_level", ScopeGlobal, KindEnum).oneOf("debug", "info", "warn", "error"),
	spec("log_format", ScopeGlobal, KindEnum).oneOf("auto", "console", "json"),

	// General options forkmq knows and does not support.
	unsupported("accept_protocol_versions", ScopeListener, "forkmq accepts MQTT 3.1.1 (protocol level 4) only"),
	unsupported("allow_duplicate_messages", ScopeGlobal, "deprecated by mosquitto; forkmq sends a message once per client [MQTT-3.3.5-1]"),
	unsupported("allow_zero_length_clientid", ScopeSecurity, "forkmq accepts an empty client identifier with clean session 1, as MQTT 3.1.1 allows [MQTT-3.1.3-6]"),
	unsupported("auth_plugin", ScopeSecurity, whyPlugins),
	unsupported("auth_plugin_deny_special_chars", ScopeSecurity, whyPlugins),
	unsupported("plugin", ScopeSecurity, whyPlugins).repeat(),
	unsupported("global_plugin", ScopeGlobal, whyPlugins).repeat(),
	unsupported("auto_id_prefix", ScopeSecurity, "forkmq names clients without an identifier itself"),
	unsupported("autosave_interval", ScopeGlobal, whyPersist),
	unsupported("autosave_on_changes", ScopeGlobal, whyPersist),
	unsupported("check_retain_source", ScopeGlobal, "forkmq checks the subscriber's access to a retained message, not its publisher's"),
	unsupported("clientid_prefixes", ScopeGlobal, "deprecated by mosquitto; use an acl_file"),
	unsupported("connection_messages", ScopeGlobal, "forkmq always logs connects and disconnects (log_level info)"),
	unsupported("enable_control_api", ScopeGlobal, "forkmq has no $CONTROL API"),
	unsupported("global_max_connections", ScopeGlobal, "see global_max_clients and max_connections"),
	unsupported("log_dest", ScopeGlobal, whyLog).repeat(),
	unsupported("log_facility", ScopeGlobal, whyLog),
	unsupported("log_timestamp", ScopeGlobal, whyLog),
	unsupported("log_timestamp_format", ScopeGlobal, whyLog),
	unsupported("log_type", ScopeGlobal, whyLog).repeat(),
	unsupported("max_inflight_bytes", ScopeGlobal, "forkmq bounds messages in flight by count (max_inflight_messages)"),
	unsupported("max_keepalive", ScopeGlobal, whyMQTT5),
	unsupported("memory_limit", ScopeGlobal, "forkmq bounds what it holds per client (max_queued_messages, max_queued_bytes)"),
	unsupported("persistence", ScopeGlobal, whyPersist),
	unsupported("retained_persistence", ScopeGlobal, whyPersist),
	unsupported("persistence_file", ScopeGlobal, whyPersist),
	unsupported("persistent_client_expiration", ScopeGlobal, "forkmq keeps persistent sessions until a clean-session connect ends them, as MQTT 3.1.1 does"),
	unsupported("pid_file", ScopeGlobal, "forkmq writes no pid file; the running broker holds a flock on broker.lock in its state directory"),
	unsupported("psk_file", ScopeSecurity, whyPSK),
	unsupported("queue_qos0_messages", ScopeGlobal, whyNonStd),
	unsupported("retain_available", ScopeGlobal, "forkmq always supports retained messages"),
	unsupported("retry_interval", ScopeGlobal, "removed from mosquitto; forkmq resends unacknowledged messages on reconnect [MQTT-4.4.0-1]"),
	unsupported("set_tcp_nodelay", ScopeGlobal, "forkmq always sets TCP_NODELAY (Go's default)"),
	unsupported("upgrade_outgoing_qos", ScopeGlobal, whyNonStd),
	unsupported("websockets_log_level", ScopeGlobal, whyWS),
	unsupported("websockets_headers_size", ScopeGlobal, whyWS),
	unsupported("quic_log_level", ScopeGlobal, "forkmq has no QUIC listeners"),

	// Listener options forkmq knows and does not support.
	unsupported("bind_address", ScopeListener, whyDeprec),
	unsupported("port", ScopeListener, whyDeprec),
	unsupported("bind_interface", ScopeListener, "listen on an address instead: listener PORT ADDRESS"),
	unsupported("http_dir", ScopeListener, whyWS),
	unsupported("websockets_origin", ScopeListener, whyWS).repeat(),
	unsupported("max_qos", ScopeListener, whyMQTT5),
	unsupported("max_topic_alias", ScopeListener, whyMQTT5),
	unsupported("max_topic_alias_broker", ScopeListener, whyMQTT5),
	unsupported("mount_point", ScopeListener, "forkmq has no mount points; use distinct topic prefixes and an acl_file"),
	unsupported("socket_domain", ScopeListener, "listen on an IPv4 or IPv6 address instead: listener PORT ADDRESS"),
	unsupported("use_username_as_clientid", ScopeListener, whyNonStd),
	unsupported("use_subject_as_username", ScopeListener, whyTLS),
	unsupported("capath", ScopeListener, whyTLS),
	unsupported("ciphers", ScopeListener, whyTLS),
	unsupported("ciphers_tls1.3", ScopeListener, whyTLS),
	unsupported("crlfile", ScopeListener, whyTLS),
	unsupported("dhparamfile", ScopeListener, whyTLS),
	unsupported("disable_client_cert_date_checks", ScopeListener, whyTLS),
	unsupported("tls_engine", ScopeListener, whyTLS),
	unsupported("tls_engine_kpass_sha1", ScopeListener, whyTLS),
	unsupported("tls_keyform", ScopeListener, whyTLS),
	unsupported("psk_hint", ScopeListener, whyPSK),

	// Bridge options forkmq knows and does not support.
	unsupported("bridge_attempt_unsubscribe", ScopeBridge, whyBridge),
	unsupported("bridge_bind_address", ScopeBridge, whyBridge),
	unsupported("bridge_max_packet_size", ScopeBridge, whyBridge),
	unsupported("bridge_max_topic_alias", ScopeBridge, whyMQTT5),
	unsupported("bridge_outgoing_retain", ScopeBridge, whyBridge),
	unsupported("bridge_protocol_version", ScopeBridge, "forkmq's bridges speak MQTT 3.1.1"),
	unsupported("bridge_receive_maximum", ScopeBridge, whyMQTT5),
	unsupported("bridge_reload_type", ScopeBridge, whyBridge),
	unsupported("bridge_session_expiry_interval", ScopeBridge, whyMQTT5),
	unsupported("bridge_tcp_keepalive", ScopeBridge, whyBridge),
	unsupported("bridge_tcp_user_timeout", ScopeBridge, whyBridge),
	unsupported("local_cleansession", ScopeBridge, whyBridge),
	unsupported("idle_timeout", ScopeBridge, "forkmq's bridges start with the broker and stay connected (start_type automatic)"),
	unsupported("local_clientid", ScopeBridge, whyBridge),
	unsupported("local_password", ScopeBridge, whyBridge),
	unsupported("local_username", ScopeBridge, whyBridge),
	unsupported("notifications", ScopeBridge, "forkmq reports a bridge's state in $SYS/broker/connection/NAME/state, /metrics and the live view"),
	unsupported("notifications_local_only", ScopeBridge, whyBridge),
	unsupported("notification_topic", ScopeBridge, whyBridge),
	unsupported("round_robin", ScopeBridge, whyBridge),
	unsupported("start_type", ScopeBridge, "forkmq's bridges start with the broker and stay connected (start_type automatic)"),
	unsupported("threshold", ScopeBridge, "forkmq's bridges start with the broker and stay connected (start_type automatic)"),
	unsupported("try_private", ScopeBridge, "forkmq's bridges never send a message back where it came from, without a private protocol"),
	unsupported("bridge_alpn", ScopeBridge, whyBridgeTLS),
	unsupported("bridge_capath", ScopeBridge, whyBridgeTLS),
	unsupported("bridge_ciphers", ScopeBridge, whyBridgeTLS),
	unsupported("bridge_ciphers_tls1.3", ScopeBridge, whyBridgeTLS),
	unsupported("bridge_identity", ScopeBridge, whyPSK),
	unsupported("bridge_psk", ScopeBridge, whyPSK),
	unsupported("bridge_insecure", ScopeBridge, whyBridgeTLS),
	unsupported("bridge_require_ocsp", ScopeBridge, whyBridgeTLS),
	unsupported("bridge_tls_version", ScopeBridge, whyBridgeTLS),
)

// aliases are older or alternative names mosquitto still reads, by the
// name the table uses for the same key.
var aliases = map[string]string{
	"addresses":   "address",
	"clientid":    "remote_clientid",
	"username":    "remote_username",
	"password":    "remote_password",
	"maximum_qos": "max_qos",
}

// prefixed are families of keys named by a prefix (a plugin's options).
var prefixed = []Spec{
	{Key: "auth_opt_", Scope: ScopeSecurity, Kind: KindString, Repeat: true, Why: whyPlugins},
	{Key: "plugin_opt_", Scope: ScopeSecurity, Kind: KindString, Repeat: true, Why: whyPlugins},
}

// Lookup returns the table's entry for a key as written in a file (an
// alias or a plugin option included), and the key's canonical name.
func Lookup(name string) (Spec, bool) {
	if canon, ok := aliases[name]; ok {
		name = canon
	}
	if s, ok := table[name]; ok {
		return s, true
	}
	for _, p := range prefixed {
		if strings.HasPrefix(name, p.Key) && len(name) > len(p.Key) {
			p.Key = name
			return p, true
		}
	}
	return Spec{}, false
}

// Specs returns every entry of the table (plugin option families
// excluded), for documentation and tests.
func Specs() []Spec {
	out := make([]Spec, 0, len(table))
	for _, s := range table {
		out = append(out, s)
	}
	return out
}

func spec(key string, scope Scope, kind Kind) Spec {
	return Spec{Key: key, Scope: scope, Kind: kind, Supported: true}
}

func unsupported(key string, scope Scope, why string) Spec {
	return Spec{Key: key, Scope: scope, Kind: KindString, Why: why}
}

func (s Spec) repeat() Spec { s.Repeat = true; return s }
func (s Spec) live() Spec   { s.Live = true; return s }
func (s Spec) bounds(lo, hi int64) Spec {
	s.Min, s.Max = lo, hi
	return s
}
func (s Spec) oneOf(values ...string) Spec { s.Enum = values; return s }
func (s Spec) rule(f func(string) error) Spec {
	s.check = f
	return s
}

func buildTable(specs ...Spec) map[string]Spec {
	m := make(map[string]Spec, len(specs))
	for _, s := range specs {
		if _, dup := m[s.Key]; dup {
			panic("mosqconf: key " + s.Key + " is in the table twice")
		}
		m[s.Key] = s
	}
	return m
}
