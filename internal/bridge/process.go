package bridge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/topic"
)

// The process engine's bridge (issue 14) is a process of its own, started
// and restarted with back-off by the supervisor: it runs a Bridge to the
// remote broker, and meets the local broker as a local client over one end
// of a socketpair whose other end the supervisor hands to a worker pair
// like an accepted connection (LocalClient). The pair does not know it
// serves a bridge.
//
// QoS 1 survives the process's or its pair's death: the local session is
// persistent (LocalClientID), a local message is acknowledged only once
// the remote has taken it (ForwardThen), and a remote one only once the
// local broker has (Publish waits for its PUBACK). Loops: what the bridge
// publishes locally on a topic it also forwards comes back to its own
// subscription (3.1.1 has no "no local"), so it is dropped once, as the
// remote's echoes are.

// LocalClientID is the client identifier of a bridge's local connection in
// the process engine: fixed, so its persistent session survives restarts.
func LocalClientID(name string) string { return "forkmq-bridge-" + name }

// LocalClient is a bridge's local side as an MQTT client of the local
// broker over conn: Local for the Bridge, and the subscriber to its out
// and both filters that hands what arrives to ForwardThen.
type LocalClient struct {
	client mqtt.Client
	echoes *echoSet
	filter []string      // the local filters forwarded
	ready  chan struct{} // closed once connected: Publish waits for it
	lost   chan error

	up      atomic.Bool // the remote side's state, for publishState
	stateMu sync.Mutex  // one state published at a time
}

// NewLocalClient prepares the local side of a bridge, to connect over conn
// (once: a lost connection is not re-made, Lost says so) as
// LocalClientID(cfg.Name).
func NewLocalClient(cfg Config, conn net.Conn, log zerolog.Logger) (*LocalClient, error) {
	lc := &LocalClient{echoes: newEchoSet(log, "the local broker does not send back what the bridge publishes on its both topics"),
		ready: make(chan struct{}), lost: make(chan error, 1)}
	var used atomic.Bool
	o := mqtt.NewClientOptions().
		AddBroker("tcp://local").
		SetClientID(LocalClientID(cfg.Name)).
		SetProtocolVersion(4).
		SetCleanSession(false).
		SetKeepAlive(0).
		SetAutoReconnect(false).
		SetOrderMatters(true).
		SetAutoAckDisabled(true). // acknowledged once the remote has it (ForwardThen)
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) {
			if used.Swap(true) {
				return nil, errors.New("the local connection is gone; the supervisor starts the bridge again")
			}
			return readBuffered(conn), nil
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lc.lost <- err:
			default:
			}
		})
	lc.client = mqtt.NewClient(o)
	return lc, nil
}

// Connect connects to the local broker. Forward comes first: a persistent
// session's queued messages arrive at once, before any SUBSCRIBE.
func (lc *LocalClient) Connect() error {
	if tok := lc.client.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		return fmt.Errorf("connect to the local broker: %v", tok.Error())
	}
	close(lc.ready)
	return nil
}

// Lost is sent the error that ended the local connection.
func (lc *LocalClient) Lost() <-chan error { return lc.lost }

// Publish implements Local: a message from the remote, published locally
// at its QoS and waited for (PUBACK at QoS 1). On a topic the bridge also
// forwards, its echo is dropped when it comes back.
func (lc *LocalClient) Publish(m Message) error {
	for _, f := range lc.filter {
		if topic.Match(f, m.Topic) {
			lc.echoes.expect(m.Topic, m.Payload)
			break
		}
	}
	select {
	case <-lc.ready:
	case <-time.After(30 * time.Second):
		return errors.New("not connected to the local broker in 30 s")
	}
	tok := lc.client.Publish(m.Topic, m.QoS, m.Retain, m.Payload)
	if !tok.WaitTimeout(30 * time.Second) {
		return errors.New("the local broker did not acknowledge in 30 s")
	}
	return tok.Error()
}

// Forward routes to b every message of b's local filters that arrives,
// but the bridge's own echoes; each is acknowledged to the local broker
// once the remote has it. Call it before Connect: the routes must be there
// for what a persistent session delivers at once.
func (lc *LocalClient) Forward(b *Bridge) {
	lc.filter = b.Filters()
	for _, f := range lc.filter {
		lc.client.AddRoute(f, func(_ mqtt.Client, m mqtt.Message) {
			if lc.echoes.seen(m.Topic(), m.Payload()) {
				m.Ack()
				return
			}
			msg := Message{Topic: m.Topic(), Payload: m.Payload(), QoS: m.Qos(), Retain: m.Retained()}
			if err := b.ForwardThen(msg, m.Ack); err != nil {
				m.Ack() // no topic carries it out: nothing to wait for
			}
		})
	}
}

// Subscribe subscribes, at QoS 1 (each topic's own QoS is the remote's),
// to the local filters Forward routes.
func (lc *LocalClient) Subscribe() error {
	filters := map[string]byte{}
	for _, f := range lc.filter {
		filters[f] = 1
	}
	if len(filters) == 0 {
		return nil
	}
	tok := lc.client.SubscribeMultiple(filters, nil)
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		return fmt.Errorf("subscribe to the local filters %v: %v", lc.filter, tok.Error())
	}
	return nil
}

// Close disconnects from the local broker.
func (lc *LocalClient) Close() { lc.client.Disconnect(250) }

// ProcessArg is the first argument of a bridge process: the binary the
// supervisor starts (the broker's) runs ProcessMain when it sees it.
const ProcessArg = "bridge"

// ProcessMain is a bridge process: its configuration (JSON, WriteConfig's)
// read from cfgFile, its local connection on sock. It runs until ctx ends
// or the local connection is lost, and returns why.
//
// stats, when not nil, is a socket on which the supervisor asks for the
// bridge's Stats: every byte it reads is answered with one JSON line
// (ServeStats). The supervisor asks when /metrics or the live view wants
// them, so a bridge that nobody watches is never woken for it.
func ProcessMain(ctx context.Context, cfgFile io.Reader, sock, stats *os.File, log zerolog.Logger) error {
	var cfg Config
	if err := json.NewDecoder(cfgFile).Decode(&cfg); err != nil {
		return fmt.Errorf("bridge configuration: %w", err)
	}
	conn, err := net.FileConn(sock)
	sock.Close()
	if err != nil {
		return fmt.Errorf("bridge %s: local socket: %w", cfg.Name, err)
	}
	log = log.With().Str("bridge", cfg.Name).Logger()
	lc, err := NewLocalClient(cfg, conn, log)
	if err != nil {
		return err
	}
	b, err := New(cfg, lc, log)
	if err != nil {
		return err
	}
	b.OnState(func(up bool) { lc.publishState(log, cfg.Name, up) })
	if stats != nil {
		go ServeStats(stats, b.Stats)
	}
	lc.Forward(b)
	// The remote side first: what a persistent local session delivers at
	// once must find the remote client connecting (it holds publications
	// until it is connected), not never started (it would refuse them).
	// What comes in from the remote waits in Publish until the local side
	// is connected.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		b.Run(ctx)
		close(done)
	}()
	defer func() { cancel(); <-done }()
	if err := lc.Connect(); err != nil {
		return fmt.Errorf("bridge %s: %w", cfg.Name, err)
	}
	defer lc.Close()
	if err := lc.Subscribe(); err != nil {
		return fmt.Errorf("bridge %s: %w", cfg.Name, err)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-lc.Lost():
		return fmt.Errorf("bridge %s: the local connection was lost: %w", cfg.Name, err)
	}
}

// StateTopic is mosquitto's retained bridge state: 1 while connected.
func StateTopic(name string) string { return "$SYS/broker/connection/" + name + "/state" }

// publishState publishes the bridge's state, retained, in the local
// broker, as the goroutine engine does: once the local side is connected
// (the remote may connect first), on a goroutine of its own (it is called
// on the remote client's), the state current when it publishes.
func (lc *LocalClient) publishState(log zerolog.Logger, name string, up bool) {
	lc.up.Store(up)
	log.Info().Str("topic", StateTopic(name)).Bool("connected", up).Msg("bridge state")
	go func() {
		<-lc.ready
		lc.stateMu.Lock()
		defer lc.stateMu.Unlock()
		state := "0"
		if lc.up.Load() {
			state = "1"
		}
		lc.client.Publish(StateTopic(name), 0, true, state).Wait()
	}()
}

// WriteConfig writes cfg for ProcessMain.
func WriteConfig(w io.Writer, cfg Config) error { return json.NewEncoder(w).Encode(cfg) }

// ServeStats answers every byte read from conn with one JSON line of
// stats(), until conn fails (the supervisor closed its end, or this
// process ends).
func ServeStats(conn io.ReadWriteCloser, stats func() Stats) {
	defer conn.Close()
	ask := make([]byte, 64)
	enc := json.NewEncoder(conn)
	for {
		if _, err := conn.Read(ask); err != nil {
			return
		}
		if err := enc.Encode(stats()); err != nil {
			return
		}
	}
}

// AskStats asks a bridge process for its Stats on conn (ServeStats's
// other end), giving up at deadline.
func AskStats(conn net.Conn, deadline time.Time) (Stats, error) {
	var st Stats
	if err := conn.SetDeadline(deadline); err != nil {
		return st, err
	}
	if _, err := conn.Write([]byte{'?'}); err != nil {
		return st, fmt.Errorf("ask the bridge for its stats: %w", err)
	}
	line := make([]byte, 0, 256)
	buf := make([]byte, 256)
	for !bytes.Contains(line, []byte{'\n'}) {
		n, err := conn.Read(buf)
		if err != nil {
			return st, fmt.Errorf("the bridge's stats: %w", err)
		}
		line = append(line, buf[:n]...)
	}
	if err := json.Unmarshal(line, &st); err != nil {
		return st, fmt.Errorf("the bridge's stats: %w", err)
	}
	return st, nil
}

// bufferedConn is a connection whose reads go through a buffer. Paho reads
// each packet straight from its connection — its type byte, each byte of
// its remaining length, then its body: three read system calls or more per
// packet. Through the buffer, one read takes whatever the local broker
// has written, many packets at a time when it streams.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func readBuffered(c net.Conn) net.Conn {
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, 32<<10)}
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
