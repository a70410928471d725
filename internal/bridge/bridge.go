package bridge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/mosqconf"
	"github.com/forkmq/forkmq/internal/topic"
)

// Message is one publication crossing the bridge.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// Local is the broker the bridge belongs to.
type Local interface {
	// Publish routes m in the local broker as the bridge's publication:
	// to every local subscriber, never back to the bridge's Forward. An
	// error leaves the message unacknowledged to the remote, which sends
	// it again.
	Publish(m Message) error
}

// Config is one bridge, with mosquitto's keys' meanings.
type Config struct {
	Name         string
	Addresses    []string // host:port; the first is used (mosquitto's round robin is not offered)
	Topics       []mosqconf.BridgeTopic
	ClientID     string // remote_clientid; default "<hostname>.<name>" as mosquitto's
	Username     string
	Password     string
	CleanSession bool
	KeepAlive    time.Duration
	Backoff      mosqconf.Backoff
	CAFile       string // bridge_cafile: TLS to the remote, verified against it
	CertFile     string // bridge_certfile, bridge_keyfile: the bridge's client certificate
	KeyFile      string
}

// FromFile reads a connection block.
func FromFile(b *mosqconf.Bridge) (Config, error) {
	c := Config{Name: b.Name, KeepAlive: 60 * time.Second}
	var err error
	if c.Addresses, err = b.Addresses(); err != nil {
		return c, err
	}
	if len(c.Addresses) == 0 {
		return c, &mosqconf.Error{Pos: b.Pos, Key: "connection", Msg: "bridge " + b.Name + " has no address line"}
	}
	if c.Topics, err = b.Topics(); err != nil {
		return c, err
	}
	if len(c.Topics) == 0 {
		return c, &mosqconf.Error{Pos: b.Pos, Key: "connection", Msg: "bridge " + b.Name + " has no topic line: it would carry nothing"}
	}
	host, _ := os.Hostname()
	c.ClientID = b.String("remote_clientid", host+"."+b.Name)
	c.Username, c.Password = b.String("remote_username", ""), b.String("remote_password", "")
	if c.CleanSession, err = b.Bool("cleansession", false); err != nil {
		return c, err
	}
	if c.KeepAlive, err = b.Duration("keepalive_interval", c.KeepAlive); err != nil {
		return c, err
	}
	if c.Backoff, err = b.RestartTimeout(); err != nil {
		return c, err
	}
	c.CAFile, c.CertFile, c.KeyFile = b.String("bridge_cafile", ""), b.String("bridge_certfile", ""), b.String("bridge_keyfile", "")
	return c, nil
}

// Stats is what the bridge has done, for $SYS, /metrics and the live view.
type Stats struct {
	Connected bool
	In, Out   uint64 // messages carried each way
	Dropped   uint64 // echoes of its own messages dropped
	// Backlog is the messages handed to Forward that the remote has not
	// taken yet (QoS 1: not acknowledged; QoS 0: not written): what waits
	// while the remote is away.
	Backlog int64
}

// Bridge is one running bridge.
type Bridge struct {
	cfg    Config
	local  Local
	log    zerolog.Logger
	client mqtt.Client

	connected atomic.Bool
	in, out   atomic.Uint64
	dropped   atomic.Uint64
	backlog   atomic.Int64
	pending   chan pendingToken // Forward's publications, settled in order (settle)

	echoes *echoSet // messages sent out on topics also taken in, not seen back yet

	onState func(connected bool) // OnState's
}

// OnState sets a function called each time the bridge connects (true) or
// loses its connection (false), as mosquitto publishes
// $SYS/broker/connection/NAME/state. Set it before Run.
func (b *Bridge) OnState(f func(connected bool)) { b.onState = f }

func (b *Bridge) setState(up bool) {
	b.connected.Store(up)
	if b.onState != nil {
		b.onState(up)
	}
}

// New prepares a bridge; Run connects it.
func New(cfg Config, local Local, log zerolog.Logger) (*Bridge, error) {
	b := &Bridge{cfg: cfg, local: local, log: log.With().Str("bridge", cfg.Name).Logger(), echoes: newEchoSet(log, "the remote does not send back what the bridge publishes on its both topics"),
		pending: make(chan pendingToken, pendingTokens)}
	o := mqtt.NewClientOptions().
		SetClientID(cfg.ClientID).
		SetProtocolVersion(4).
		SetCleanSession(cfg.CleanSession).
		SetKeepAlive(cfg.KeepAlive).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(cfg.Backoff.Base).
		SetMaxReconnectInterval(max(cfg.Backoff.Cap, cfg.Backoff.Base)).
		SetOrderMatters(true).
		SetAutoAckDisabled(true). // received acknowledges a message once Local has it
		SetOnConnectHandler(b.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			b.setState(false)
			b.log.Warn().Err(err).Msg("bridge connection lost; reconnecting")
		})
	if cfg.Username != "" {
		o.SetUsername(cfg.Username).SetPassword(cfg.Password)
	}
	scheme := "tcp://"
	if cfg.CAFile != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("bridge %s: %w", cfg.Name, err)
		}
		o.SetTLSConfig(tc)
		scheme = "ssl://"
	}
	o.AddBroker(scheme + cfg.Addresses[0])
	b.client = mqtt.NewClient(o)
	return b, nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	pem, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("bridge_cafile: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("bridge_cafile %s: no PEM certificate in it", cfg.CAFile)
	}
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("bridge_certfile, bridge_keyfile: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Run connects to the remote broker, and reconnects whenever the
// connection is lost, until ctx ends; then it disconnects, giving what is
// in flight a moment.
func (b *Bridge) Run(ctx context.Context) {
	b.log.Info().Str("address", b.cfg.Addresses[0]).Str("remote_clientid", b.cfg.ClientID).Msg("bridge starting")
	go func() {
		for p := range b.pending {
			b.settle(p)
		}
	}()
	b.client.Connect() // retries by itself (SetConnectRetry)
	<-ctx.Done()
	b.client.Disconnect(250)
	b.connected.Store(false)
}

// onConnect subscribes to the remote topics taken in, at every connection:
// a remote that lost the session (restarted without persistence, or
// cleansession true) has forgotten them.
func (b *Bridge) onConnect(c mqtt.Client) {
	filters := map[string]byte{}
	for _, t := range b.cfg.Topics {
		if t.Direction == mosqconf.In || t.Direction == mosqconf.Both {
			filters[t.RemoteFilter()] = max(filters[t.RemoteFilter()], t.QoS)
		}
	}
	if len(filters) > 0 {
		tok := c.SubscribeMultiple(filters, b.received)
		if tok.WaitTimeout(b.cfg.KeepAlive+10*time.Second) && tok.Error() != nil {
			b.log.Error().Err(tok.Error()).Msg("bridge subscriptions refused by the remote")
		}
	}
	b.setState(true)
	b.log.Info().Str("address", b.cfg.Addresses[0]).Int("subscriptions", len(filters)).Msg("bridge connected")
}

// received takes a message from the remote into the local broker.
func (b *Bridge) received(_ mqtt.Client, m mqtt.Message) {
	if b.echoes.seen(m.Topic(), m.Payload()) {
		b.dropped.Add(1)
		m.Ack()
		return
	}
	for _, t := range b.cfg.Topics {
		if t.Direction == mosqconf.Out || !topic.Match(t.RemoteFilter(), m.Topic()) {
			continue
		}
		local := t.LocalPrefix + strings.TrimPrefix(m.Topic(), t.RemotePrefix)
		msg := Message{Topic: local, Payload: m.Payload(), QoS: min(m.Qos(), t.QoS), Retain: m.Retained()}
		if err := b.local.Publish(msg); err != nil {
			// Not acknowledged: the remote sends it again after the next
			// reconnection (a persistent session's in-flight message).
			b.log.Warn().Err(err).Str("topic", local).Msg("bridge: message not taken locally; left unacknowledged")
			return
		}
		b.in.Add(1)
		m.Ack()
		return
	}
	m.Ack() // no topic of ours: nothing to take
}

// Filters are the local filters whose publications the broker gives
// Forward.
func (b *Bridge) Filters() []string {
	var out []string
	for _, t := range b.cfg.Topics {
		if t.Direction != mosqconf.In {
			out = append(out, t.LocalFilter())
		}
	}
	return out
}

// ErrNotForwarded is Forward's answer for a message no out or both topic
// matches.
var ErrNotForwarded = errors.New("no bridge topic carries it out")

// Forward sends a local publication to the remote broker on the first out
// or both topic matching it. It returns at once; a QoS 1 message waits in
// the client's store while the remote is away.
func (b *Bridge) Forward(m Message) error { return b.ForwardThen(m, nil) }

// ForwardThen is Forward calling taken (if not nil) once the remote has
// taken the message (QoS 1: acknowledged it; QoS 0: it was written), and
// never if the client gave it up: a bridge process acknowledges a local
// QoS 1 message only then, so that a crash loses nothing.
func (b *Bridge) ForwardThen(m Message, taken func()) error {
	for _, t := range b.cfg.Topics {
		if t.Direction == mosqconf.In || !topic.Match(t.LocalFilter(), m.Topic) {
			continue
		}
		remote := t.RemotePrefix + strings.TrimPrefix(m.Topic, t.LocalPrefix)
		if b.takenIn(remote) {
			b.echoes.expect(remote, m.Payload)
		}
		tok := b.client.Publish(remote, min(m.QoS, t.QoS), m.Retain, m.Payload)
		b.out.Add(1)
		b.backlog.Add(1)
		p := pendingToken{tok: tok, taken: taken}
		select {
		case b.pending <- p:
		default: // more than pendingTokens waiting: settled on their own
			go b.settle(p)
		}
		return nil
	}
	return ErrNotForwarded
}

// pendingTokens is how many of Forward's publications one goroutine waits
// for, in order (the client sends them in order, SetOrderMatters); past
// it each waits on a goroutine of its own.
const pendingTokens = 4096

// pendingToken is one of Forward's publications on its way.
type pendingToken struct {
	tok   mqtt.Token
	taken func()
}

// settle waits until the remote has taken a publication (or the client has
// given it up) and counts it off the backlog.
func (b *Bridge) settle(p pendingToken) {
	<-p.tok.Done()
	b.backlog.Add(-1)
	if p.taken != nil && p.tok.Error() == nil {
		p.taken()
	}
}

// takenIn reports whether a remote topic is subscribed to by the bridge.
func (b *Bridge) takenIn(remote string) bool {
	for _, t := range b.cfg.Topics {
		if t.Direction != mosqconf.Out && topic.Match(t.RemoteFilter(), remote) {
			return true
		}
	}
	return false
}

// Name is the bridge's, from its connection line.
func (b *Bridge) Name() string { return b.cfg.Name }

// Stats returns what the bridge has done so far.
func (b *Bridge) Stats() Stats {
	return Stats{Connected: b.connected.Load(), In: b.in.Load(), Out: b.out.Load(), Dropped: b.dropped.Load(),
		Backlog: b.backlog.Load()}
}
