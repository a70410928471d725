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

// Conns is the supervisor's record of the connections it serves (package
// conntable).
func (l Layout) Conns() string { return l.path("conns") }

// Clients is the folder where brokers before package conntable kept a
// record per connection; a sweep removes what one killed left there.
func (l Layout) Clients() string { return l.path("clients") }

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
