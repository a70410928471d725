package rawmqtt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// DialTimeout is Dial's default bound on the TCP connect and the wait
	// for CONNACK.
	DialTimeout = 10 * time.Second
	// WaitTimeout bounds one step of a conversation: a Write to be taken,
	// a packet or the close to arrive in an expectation. It is generous: a
	// loaded 2-core machine answers in milliseconds.
	WaitTimeout = 5 * time.Second
)

// Options configure a connection.
type Options struct {
	// ClientID, KeepAlive and Persistent (clean session 0) make Dial's
	// CONNECT, a 3.1.1 one without will or user name.
	ClientID   string
	KeepAlive  uint16
	Persistent bool
	// ReadBuffer and WriteBuffer size the bufio buffers (default 32 KiB);
	// thousands of idle clients want small ones.
	ReadBuffer, WriteBuffer int
	// Counters receives the connection's packet counts; nil gives it its
	// own. One Counters may be shared by many connections.
	Counters *Counters
	// Timeout bounds Dial's TCP connect and wait for CONNACK (default
	// DialTimeout).
	Timeout time.Duration
}

// connect is the CONNECT that Dial sends.
func (o Options) connect() Connect {
	c := MQTT311(o.ClientID)
	c.KeepAlive = o.KeepAlive
	if o.Persistent {
		c = c.Persistent()
	}
	return c
}

// Counters count MQTT packets and bytes on the wire, for the benchmark's
// packets-per-second. Write counts each of its arguments as one packet.
type Counters struct {
	PacketsOut, PacketsIn atomic.Int64
	BytesOut, BytesIn     atomic.Int64
}

// Packets returns packets sent plus packets received.
func (c *Counters) Packets() int64 { return c.PacketsOut.Load() + c.PacketsIn.Load() }

// ConnackError is a CONNACK with a non-zero return code: the broker
// refused the connection.
type ConnackError struct{ Code byte }

func (e *ConnackError) Error() string {
	return fmt.Sprintf("rawmqtt: broker refused the connection: CONNACK return code %d (%s)", e.Code, connackText(e.Code))
}

func connackText(code byte) string {
	switch code {
	case RefusedProtocolVersion:
		return "unacceptable protocol version"
	case RefusedIdentifier:
		return "identifier rejected"
	case RefusedServerUnavailable:
		return "server unavailable"
	case RefusedBadCredentials:
		return "bad user name or password"
	case RefusedNotAuthorized:
		return "not authorized"
	}
	return "unknown code"
}

// Conn is one MQTT connection, the client's end. Writes are safe for
// concurrent use; reads (Read, ReadPacket, Serve and the expectations)
// belong to one goroutine at a time.
type Conn struct {
	nc  net.Conn
	r   *bufio.Reader
	ctr *Counters

	wmu sync.Mutex
	w   *bufio.Writer
	hdr []byte // scratch for headers, guarded by wmu

	body    []byte   // ReadPacket's reused buffer
	pkt     Packet   // what ReadPacket returns
	pending []Packet // read ahead (before CONNACK), returned first
	rx      *ReceiverState
	lastID  atomic.Uint32 // NextID's counter
}

// NewConn wraps an open connection; it sends nothing.
func NewConn(nc net.Conn, o Options) *Conn {
	rb, wb := o.ReadBuffer, o.WriteBuffer
	if rb <= 0 {
		rb = 32 << 10
	}
	if wb <= 0 {
		wb = 32 << 10
	}
	ctr := o.Counters
	if ctr == nil {
		ctr = new(Counters)
	}
	return &Conn{
		nc: nc, r: bufio.NewReaderSize(nc, rb), w: bufio.NewWriterSize(nc, wb), ctr: ctr,
		hdr: make([]byte, 0, 64), rx: NewReceiverState(),
	}
}

// Dial connects to addr over TCP, sends the CONNECT of o and waits for
// CONNACK 0. A refusing CONNACK returns a *ConnackError; the connection is
// then closed.
func Dial(ctx context.Context, addr string, o Options) (*Conn, error) {
	if o.Timeout <= 0 {
		o.Timeout = DialTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rawmqtt: dial %s: %w", addr, err)
	}
	c := NewConn(nc, o)
	deadline, _ := ctx.Deadline()
	if err := c.handshake(o.connect().Bytes(), deadline); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// Handshake sends connect and waits, within WaitTimeout, for CONNACK 0; a
// refusing CONNACK returns a *ConnackError.
func (c *Conn) Handshake(connect []byte) error {
	return c.handshake(connect, time.Now().Add(WaitTimeout))
}

func (c *Conn) handshake(connect []byte, deadline time.Time) error {
	_ = c.nc.SetDeadline(deadline)
	defer c.nc.SetDeadline(time.Time{})
	c.wmu.Lock()
	err := c.buffer(connect)
	if err == nil {
		err = c.w.Flush()
	}
	c.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("rawmqtt: send CONNECT: %w", err)
	}
	p, err := c.ReadPacket()
	if err != nil {
		return fmt.Errorf("rawmqtt: wait for CONNACK: %w", err)
	}
	a, err := p.Connack()
	if err != nil {
		return err
	}
	if a.Code != Accepted {
		return &ConnackError{Code: a.Code}
	}
	return nil
}

// buffer writes one packet to the write buffer and counts it; wmu is held.
func (c *Conn) buffer(b []byte) error {
	c.ctr.PacketsOut.Add(1)
	c.ctr.BytesOut.Add(int64(len(b)))
	_, err := c.w.Write(b)
	return err
}

// Write sends packets, each argument counted as one, and what was
// buffered before them, within WaitTimeout.
func (c *Conn) Write(packets ...[]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(WaitTimeout))
	defer c.nc.SetWriteDeadline(time.Time{}) // BufferPublish and Flush have none
	for _, p := range packets {
		if err := c.buffer(p); err != nil {
			return err
		}
	}
	return c.w.Flush()
}

// Read returns the next packet within timeout, its body its own: first
// those read ahead while waiting for CONNACK, then what arrives.
func (c *Conn) Read(timeout time.Duration) (Packet, error) {
	if len(c.pending) > 0 {
		p := c.pending[0]
		c.pending = c.pending[1:]
		return p, nil
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	defer c.nc.SetReadDeadline(time.Time{}) // ReadPacket's callers set their own
	p, _, err := readPacket(c.r, nil)
	if err == nil {
		c.countIn(p)
	}
	return p, err
}

// ReadPacket returns the next packet without a deadline of its own. The
// packet and its body are valid until the next call: the load generator
// reads into one buffer.
func (c *Conn) ReadPacket() (*Packet, error) {
	if len(c.pending) > 0 {
		c.pkt = c.pending[0]
		c.pending = c.pending[1:]
		return &c.pkt, nil
	}
	p, buf, err := readPacket(c.r, c.body)
	c.body = buf
	if err != nil {
		return nil, err
	}
	c.countIn(p)
	c.pkt = p
	return &c.pkt, nil
}

func (c *Conn) countIn(p Packet) {
	c.ctr.PacketsIn.Add(1)
	c.ctr.BytesIn.Add(int64(1 + varintLen(len(p.Body)) + len(p.Body)))
}

// NextID is a packet identifier for the next SUBSCRIBE, UNSUBSCRIBE or
// QoS 1 or 2 PUBLISH: 1, 2, … 65535, then 1 again (0 is never one
// [MQTT-2.3.1-1]).
func (c *Conn) NextID() uint16 { return uint16((c.lastID.Add(1)-1)%65535 + 1) }

// Subscribe sends SUBSCRIBE for the filters at qos and returns the return
// codes of the SUBACK, which must be the next packet and carry id
// [MQTT-3.8.4-2]. A refused filter's code is SubackFailure.
func (c *Conn) Subscribe(id uint16, qos byte, filters ...string) ([]byte, error) {
	if err := c.Write(Subscribe(id, qos, filters...)); err != nil {
		return nil, fmt.Errorf("rawmqtt: send SUBSCRIBE: %w", err)
	}
	p, err := c.Read(WaitTimeout)
	if err != nil {
		return nil, fmt.Errorf("rawmqtt: wait for SUBACK: %w", err)
	}
	got, codes, err := p.Suback()
	if err != nil {
		return nil, err
	}
	if got != id {
		return nil, p.malformed("SUBACK for packet identifier %d, the SUBSCRIBE's is %d [MQTT-3.8.4-2]", got, id)
	}
	return codes, nil
}

// Counters returns the connection's counters.
func (c *Conn) Counters() *Counters { return c.ctr }

// NetConn returns the TCP connection: for its addresses, for half-closing,
// or for writes no bound of this package may cut short.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Disconnect sends DISCONNECT and closes the connection.
func (c *Conn) Disconnect() error {
	err := c.Write(Disconnect())
	if cerr := c.nc.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the connection without DISCONNECT.
func (c *Conn) Close() error { return c.nc.Close() }

// IsClosed tells a closed or reset connection from a timeout or a
// malformed packet.
func IsClosed(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
