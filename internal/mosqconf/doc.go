// Package mosqconf reads configuration files in mosquitto's format
// (mosquitto.conf(5), mosquitto 2.x), so that a mosquitto installation can
// start forkmq on the file it already has.
//
// # Grammar
//
// A file is a sequence of lines. A line whose first non-blank character is
// '#' is a comment; blank lines are skipped. Every other line is a key, then
// blanks (spaces or tabs), then the key's value: the rest of the line with
// surrounding blanks and the line end (LF or CRLF) trimmed. Keys are
// case-sensitive. Values are kept as strings with the file and line they
// came from; the typed getters (Section.Bool, Int, Duration, Size, …)
// interpret them and name file:line in their errors.
//
// Where mosquitto reads one token (numbers, booleans, enumerations), a
// trailing "# comment" after the token is allowed, as mosquitto allows it;
// anything else after the token is an error. Where it reads a string (paths,
// names) the whole rest of the line is the value, '#' included, as in
// mosquitto.
//
// Two lines start blocks, and mosquitto's block rules are kept exactly:
//
//   - "listener PORT [ADDRESS]" starts a listener. Keys of listener scope
//     (TLS files, protocol, max_connections, enable_proxy_protocol, …) that
//     follow belong to it, until the next listener line. Listener keys
//     before any listener line configure mosquitto's implicit default
//     listener (Config.Default; for forkmq, the -listen address).
//   - "connection NAME" starts a bridge. Keys of bridge scope (address,
//     topic, remote_clientid, …) that follow belong to it, until the next
//     connection line; a bridge key before any connection line is an error.
//
// A block is not closed by a key of another scope: a global key written
// inside a listener block is still global, and a listener key written after
// a connection line still belongs to the last listener — which is what
// mosquitto does, however the file is indented.
//
// # per_listener_settings
//
// The security keys — password_file, acl_file, allow_anonymous,
// allow_zero_length_clientid, auto_id_prefix, psk_file and the plugin keys —
// are global by default, wherever they are written: "allow_anonymous true"
// under a listener line opens every listener. With "per_listener_settings
// true" they belong to the listener they follow instead (before any
// listener line, to the default listener), and a listener without them has
// none (mosquitto then refuses anonymous clients on it). Like mosquitto,
// per_listener_settings must come before any security key, and once true
// it stays true. Config.Security tells where a listener's security keys
// are.
//
// # include_dir
//
// "include_dir DIR" reads every file in DIR whose name ends in ".conf", in
// mosquitto's order (by byte, except that the upper case of a letter sorts
// just before its lower case: 00.conf, A.conf, a.conf, B.conf, b.conf), as
// if its lines stood there; blocks continue across files, as in mosquitto.
// Only the main file's include_dir lines are read; one in an included file
// is ignored with a notice (mosquitto ignores it silently). DIR must not
// hold the main file. A relative path is taken from the working directory,
// as mosquitto takes it.
//
// # Keys
//
// Every key mosquitto 2.x knows is in one table (keys.go), with its scope
// and whether forkmq supports it:
//
//   - a supported key is checked when the file is read (a bad value is an
//     *Error naming file:line) and is there for the caller to apply;
//   - a key mosquitto knows and forkmq does not support is ignored, with a
//     Notice naming its line and what forkmq does instead;
//   - any other key is an *Error naming its line.
//
// forkmq's own keys (engine, pool, worker uids, the admin listener, and its
// limits mosquitto has no word for) are in the same table.
//
// Defaults are the caller's to apply: the getters return the default they
// are given when a key is absent. Two of mosquitto 2's are worth knowing
// when choosing forkmq's: without allow_anonymous true, a file with a
// listener line refuses clients without a user name; and with no listener
// line at all, mosquitto listens on the loopback interface only.
//
// The package imports the standard library and internal/topic only, and
// never logs: the caller logs the notices.
package mosqconf
