// Package state names the files a broker keeps in its state directory, so
// the supervisor and the workers (which all read and write them) agree.
//
//	broker.lock                 flock held by the running broker
//	clients/<conn>              one record per connection being served (its remote address)
//	clients/<conn>.id           the client identifier, written by the router after CONNECT
//	clients/<conn>.will         the will, while the connection may still end abnormally
//	clients/<conn>.session      the persistent session queue the connection adopted
//	ids/<hash>                  flock held by the router serving that client identifier
//	sessions/<hash>             a persistent session: the client identifier
//	sessions/<hash>.in/<id>     QoS 2 packet identifiers received and not yet released
//	topics/                     per-topic files (package topicdir)
//	spool/                      publications too large for a queue message, and the
//	                            mailboxes of persistent sessions (package spool)
//	retained/                   retained messages (package retain)
//
// <conn> is the connection's queue name, forkmq.<instance>.<seq>; <hash> is
// the hex SHA-256 of the client identifier (so no identifier can name a
// path), and a persistent session's queue is forkmq.<instance>.s<hash[:24]>.
package state

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
)

// Layout is a state directory.
type Layout struct {
	Root     string // absolute path
	Instance string // the broker instance, the namespace of its queues
}

// QueuePrefix starts the name of every queue of this broker.
func (l Layout) QueuePrefix() string { return "forkmq." + l.Instance + "." }

// ConnQueue names the queue of a connection by its sequence number.
func (l Layout) ConnQueue(seq string) string { return l.QueuePrefix() + seq }

// SessionQueue names the queue of a persistent session.
func (l Layout) SessionQueue(hash string) string { return l.QueuePrefix() + "s" + hash[:24] }

// IsSessionQueue reports whether a queue name is a persistent session's.
func IsSessionQueue(name string) bool {
	i := strings.LastIndexByte(name, '.')
	return i >= 0 && strings.HasPrefix(name[i+1:], "s")
}

// HashClientID is the file-name-safe identity of a client identifier.
func HashClientID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func (l Layout) path(parts ...string) string {
	return filepath.Join(append([]string{l.Root}, parts...)...)
}

// Lock is the broker's lock file.
func (l Layout) Lock() string { return l.path("broker.lock") }

// Clients is the folder of connection records.
func (l Layout) Clients() string { return l.path("clients") }

// ClientRecord is a connection's record.
func (l Layout) ClientRecord(conn string) string { return l.path("clients", conn) }

// ClientID holds a connection's client identifier.
func (l Layout) ClientID(conn string) string { return l.path("clients", conn+".id") }

// Will holds a connection's will message (an envelope).
func (l Layout) Will(conn string) string { return l.path("clients", conn+".will") }

// AdoptedSession holds the persistent session queue a connection adopted.
func (l Layout) AdoptedSession(conn string) string { return l.path("clients", conn+".session") }

// IDs is the folder of client-identifier locks.
func (l Layout) IDs() string { return l.path("ids") }

// IDLock is the lock file of a client identifier.
func (l Layout) IDLock(hash string) string { return l.path("ids", hash) }

// Sessions is the folder of persistent sessions.
func (l Layout) Sessions() string { return l.path("sessions") }

// Session is a persistent session's record.
func (l Layout) Session(hash string) string { return l.path("sessions", hash) }

// Inbound is the folder of a persistent session's unreleased QoS 2 ids.
func (l Layout) Inbound(hash string) string { return l.path("sessions", hash+".in") }

// Topics is package topicdir's directory.
func (l Layout) Topics() string { return l.path("topics") }

// Spool is package spool's directory.
func (l Layout) Spool() string { return l.path("spool") }

// Retained is package retain's directory.
func (l Layout) Retained() string { return l.path("retained") }
