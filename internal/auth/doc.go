// Package auth decides who may connect and which topics each client may
// publish and subscribe to, reading mosquitto's own files so that an
// installation can move between mosquitto and forkmq unchanged.
//
// Two files, both optional:
//
//   - A password file (LoadPasswords) as written by mosquitto_passwd:
//     "user:$7$…" (PBKDF2-SHA512, mosquitto 2) or "user:$6$…" (salted
//     SHA-512, mosquitto 1.x). Passwords are checked in constant time, and
//     an unknown user costs as much as a wrong password.
//   - An ACL file (LoadACL) in mosquitto's acl_file syntax: "topic" rules
//     for anonymous clients and per "user" section, "pattern" rules for
//     everyone with %c and %u. Deny rules win over grants; a SUBSCRIBE
//     filter needs a rule that covers every topic it could match.
//
// An Authorizer (Load) bundles both with the allow-anonymous setting and
// answers Connect (with the MQTT 3.1.1 CONNACK code), CanPublish and
// CanSubscribe. It is an immutable snapshot: Reload builds a new one from
// the same files, which the caller swaps in, keeping the old one when a
// file turns out to be malformed. Malformed files are *ParseError values
// naming file and line.
//
// The user-facing description of the files and the refusal behaviour is
// docs/ACCESS.md. The package imports the standard library and
// internal/topic only, and never logs.
package auth
