package supervisor

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/forkmq/forkmq/internal/stall"
)

// Config is what the broker is told on its command line.
type Config struct {
	Listen        string        // address to listen on, e.g. ":1883"
	StateDir      string        // topic files, client records, spool
	MaxClients    int           // clients served at once; sizes the queues
	QueueBudget   uint64        // bytes of RLIMIT_MSGQUEUE to plan within; 0 = all
	MaxPacketSize int           // largest packet accepted from a client
	ConnectWait   time.Duration // how long a new connection may take to send CONNECT
	WorkerPath    string        // the worker binary
	LogFormat     string        // console or json, passed to the workers
	LogLevel      string        // passed to the workers
	StopGrace     time.Duration // how long workers get to exit before SIGKILL
	MaxInflight   int           // unacknowledged QoS 1/2 messages per client
	SessionMsgs   int           // most messages a persistent session stores
	SessionBytes  int64         // most bytes a persistent session stores
	BacklogMsgs   int           // most messages held for a slow client
	BacklogBytes  int64         // most bytes held for a slow client
	StallTimeout  time.Duration // how long a client with a full backlog may make no progress
	MaxSubs       int           // filters one connection may hold (0: no limit)
	MaxTopicLen   int           // bytes in a topic name or filter (0: no limit)
	MaxTopicLevel int           // levels in a topic name or filter (0: no limit)
	AcceptRate    float64       // new connections per second taken (0: no limit)
	AcceptBurst   int           // connections taken at once above the rate
	User          string        // run as this user after binding (root only)
	PasswordFile  string        // mosquitto_passwd file ("" for none)
	ACLFile       string        // mosquitto acl_file ("" for none)
	AllowAnon     bool          // clients without a user name may connect
}

// Defaults for Config fields left zero.
const (
	DefaultMaxClients    = 100
	DefaultMaxPacketSize = 1 + 4 + 268435455 // the largest MQTT 3.1.1 packet: fixed header with the largest remaining length
	DefaultConnectWait   = 10 * time.Second
	DefaultStopGrace     = time.Second
	DefaultMaxInflight   = 20
	DefaultSessionMsgs   = 1000
	DefaultSessionBytes  = 64 << 20
	DefaultBacklogMsgs   = 1000
	DefaultBacklogBytes  = 16 << 20
	DefaultMaxSubs       = 1000
	DefaultMaxTopicLen   = 65535
	DefaultAcceptRate    = 500
	DefaultAcceptBurst   = 200
)

func (c *Config) setDefaults() {
	c.MaxClients = cmp.Or(c.MaxClients, DefaultMaxClients)
	c.MaxPacketSize = cmp.Or(c.MaxPacketSize, DefaultMaxPacketSize)
	c.ConnectWait = cmp.Or(c.ConnectWait, DefaultConnectWait)
	c.StopGrace = cmp.Or(c.StopGrace, DefaultStopGrace)
	c.MaxInflight = cmp.Or(c.MaxInflight, DefaultMaxInflight)
	c.SessionMsgs = cmp.Or(c.SessionMsgs, DefaultSessionMsgs)
	c.SessionBytes = cmp.Or(c.SessionBytes, DefaultSessionBytes)
	c.BacklogMsgs = cmp.Or(c.BacklogMsgs, DefaultBacklogMsgs)
	c.BacklogBytes = cmp.Or(c.BacklogBytes, DefaultBacklogBytes)
	c.StallTimeout = cmp.Or(c.StallTimeout, stall.DefaultTimeout)
	c.LogLevel = cmp.Or(c.LogLevel, "info")
}

func (c *Config) validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("-listen is required"))
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("-state-dir is required"))
	}
	if c.MaxClients < 1 {
		errs = append(errs, fmt.Errorf("-max-clients %d: want at least 1", c.MaxClients))
	}
	if c.MaxPacketSize < 2 || c.MaxPacketSize > DefaultMaxPacketSize {
		errs = append(errs, fmt.Errorf("-max-packet-size %d: want 2…%d", c.MaxPacketSize, DefaultMaxPacketSize))
	}
	if c.WorkerPath == "" {
		errs = append(errs, errors.New("worker binary path is required"))
	}
	return errors.Join(errs...)
}
