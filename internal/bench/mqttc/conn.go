package mqttc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Counters count MQTT packets and bytes on the wire. One Counters may be
// shared by many connections (the connect scenario does), or each connection
// has its own so that busy ones do not contend for a cache line.
type Counters struct {
	PacketsOut, PacketsIn atomic.Int64
	BytesOut, BytesIn     atomic.Int64
}

// Packets returns packets sent plus packets received.
func (c *Counters) Packets() int64 { return c.PacketsOut.Load() + c.PacketsIn.Load() }

// Options configure a connection.
type Options struct {
	ClientID  string
	KeepAlive uint16 // seconds; 0 turns keep-alive off
	// Persistent asks for a persistent session (clean-session flag 0).
	Persistent bool
	// ReadBuffer and WriteBuffer size the bufio buffers (default 32 KiB);
	// thousands of idle clients want small ones.
	ReadBuffer, WriteBuffer int
	// Counters receives the connection's packet counts; nil gives it its own.
	Counters *Counters
	// Timeout bounds the TCP connect and the wait for CONNACK (default 10s).
	Timeout time.Duration
}

// ConnackError is a CONNACK with a non-zero return code: the broker refused.
type ConnackError struct{ Code byte }

func (e *ConnackError) Error() string {
	return fmt.Sprintf("mqttc: broker refused the connection: CONNACK return code %d (%s)", e.Code, connackText(e.Code))
}

func connackText(code byte) string {
	switch code {
	case 1:
		return "unacceptable protocol version"
	case 2:
		return "identifier rejected"
	case 3:
		return "server unavailable"
	case 4:
		return "bad user name or password"
	case 5:
		return "not authorized"
	}
	return "unknown code"
}

// Conn is one MQTT connection. Writes are buffered and safe for concurrent
// use; Flush sends them. ReadPacket must be called by one goroutine at a time.
type Conn struct {
	nc net.Conn
	r  *bufio.Reader
	c  *Counters

	wmu sync.Mutex
	w   *bufio.Writer
	hdr []byte // scratch for headers, guarded by wmu

	body []byte // read buffer reused by ReadPacket
	pkt  Packet
}

// Dial connects to addr over TCP, sends CONNECT and waits for CONNACK. A
// refusing CONNACK returns a *ConnackError; the connection is then closed.
func Dial(ctx context.Context, addr string, o Options) (*Conn, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mqttc: dial %s: %w", addr, err)
	}
	c := newConn(nc, o)
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	c.hdr = AppendConnect(c.hdr[:0], o.ClientID, o.KeepAlive, !o.Persistent)
	if err := c.writeFlush(c.hdr); err != nil {
		nc.Close()
		return nil, fmt.Errorf("mqttc: send CONNECT: %w", err)
	}
	p, err := c.ReadPacket()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("mqttc: wait for CONNACK: %w", err)
	}
	if p.Type != TypeConnack {
		nc.Close()
		return nil, fmt.Errorf("%w: packet type %d before CONNACK", ErrMalformed, p.Type)
	}
	if p.Code != 0 {
		nc.Close()
		return nil, &ConnackError{Code: p.Code}
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

func newConn(nc net.Conn, o Options) *Conn {
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
	return &Conn{nc: nc, r: bufio.NewReaderSize(nc, rb), w: bufio.NewWriterSize(nc, wb), c: ctr, hdr: make([]byte, 0, 64)}
}

// Counters returns the connection's counters.
func (c *Conn) Counters() *Counters { return c.c }

// NetConn returns the underlying connection (for deadlines).
func (c *Conn) NetConn() net.Conn { return c.nc }

// writeFlush writes one whole packet and flushes.
func (c *Conn) writeFlush(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.count(len(b))
	if _, err := c.w.Write(b); err != nil {
		return err
	}
	return c.w.Flush()
}

func (c *Conn) count(n int) {
	c.c.PacketsOut.Add(1)
	c.c.BytesOut.Add(int64(n))
}

// Subscribe sends SUBSCRIBE and reads until its SUBACK; it must be called
// before a reader goroutine takes over ReadPacket. It returns the QoS the
// broker granted (for the first filter); a refused filter (return code
// 0x80) is an error.
func (c *Conn) Subscribe(id uint16, qos byte, filters ...string) (granted byte, err error) {
	if err := c.writeFlush(AppendSubscribe(nil, id, qos, filters...)); err != nil {
		return 0, fmt.Errorf("mqttc: send SUBSCRIBE: %w", err)
	}
	for {
		p, err := c.ReadPacket()
		if err != nil {
			return 0, fmt.Errorf("mqttc: wait for SUBACK: %w", err)
		}
		if p.Type != TypeSuback {
			continue // a retained or early message; not ours to account
		}
		if p.ID != id {
			return 0, fmt.Errorf("%w: SUBACK for packet %d, want %d", ErrMalformed, p.ID, id)
		}
		if p.Code == 0x80 {
			return 0, fmt.Errorf("mqttc: broker refused subscription to %q", filters)
		}
		return p.Code, nil
	}
}

// Publish buffers a PUBLISH whose payload is the concatenation of head and
// tail (a per-message header and shared filler, so that no payload is
// copied). It does not flush.
func (c *Conn) Publish(topic string, qos byte, id uint16, head, tail []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.hdr = AppendPublishHeader(c.hdr[:0], topic, qos, id, len(head)+len(tail))
	c.count(len(c.hdr) + len(head) + len(tail))
	if _, err := c.w.Write(c.hdr); err != nil {
		return err
	}
	if _, err := c.w.Write(head); err != nil {
		return err
	}
	_, err := c.w.Write(tail)
	return err
}

// Puback buffers a PUBACK. It does not flush.
func (c *Conn) Puback(id uint16) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.count(4)
	_, err := c.w.Write(AppendPuback(c.hdr[:0], id))
	return err
}

// Ping sends a PINGREQ and flushes; the PINGRESP arrives through ReadPacket.
func (c *Conn) Ping() error { return c.writeFlush(pingreq) }

// Flush sends what is buffered.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Flush()
}

// Buffered reports whether bytes already read from the socket wait in the
// read buffer: a reader can flush its replies when none do.
func (c *Conn) Buffered() bool { return c.r.Buffered() > 0 }

// ReadPacket reads the next packet. The returned packet and its slices are
// valid until the next call.
func (c *Conn) ReadPacket() (*Packet, error) {
	h, err := c.r.ReadByte()
	if err != nil {
		return nil, err
	}
	n, err := readVarint(c.r)
	if err != nil {
		return nil, unexpected(err)
	}
	if cap(c.body) < n {
		c.body = make([]byte, n, max(n, 2*cap(c.body)))
	}
	body := c.body[:n]
	if _, err := io.ReadFull(c.r, body); err != nil {
		return nil, unexpected(err)
	}
	c.c.PacketsIn.Add(1)
	c.c.BytesIn.Add(int64(1 + varintLen(n) + n))
	if err := parseBody(&c.pkt, h, body); err != nil {
		return nil, err
	}
	return &c.pkt, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func varintLen(n int) int {
	l := 1
	for n >= 128 {
		n >>= 7
		l++
	}
	return l
}

// Disconnect sends DISCONNECT and closes the connection.
func (c *Conn) Disconnect() error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	err := c.writeFlush(disconnect)
	if cerr := c.nc.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the connection without DISCONNECT.
func (c *Conn) Close() error { return c.nc.Close() }
