package protocol

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/forkmq/forkmq/internal/packet"
)

// End says why a connection's read loop stopped; each engine turns it into its
// own way of closing (an exit code and a socket shutdown for the process
// engine, a closed connection for the goroutine engine).
type End int

// Why a connection ends.
const (
	EndDisconnect     End = iota // the client sent DISCONNECT
	EndRefused                   // CONNECT was answered with a refusing CONNACK
	EndProtocol                  // the client broke the protocol or sent a malformed packet
	EndKeepAlive                 // silent past 1.5 × keep-alive [MQTT-3.1.2-24]
	EndConnectTimeout            // no CONNECT within the connect timeout
	EndClosed                    // the client closed or reset the connection
	EndEngine                    // the engine failed (an internal error)
)

var endNames = [...]string{"disconnect", "refused", "protocol error", "keep-alive timeout", "connect timeout", "connection closed", "internal error"}

func (e End) String() string {
	if int(e) < len(endNames) {
		return endNames[e]
	}
	return "unknown"
}

// Orderly reports whether the engine should flush what is queued for the
// client before closing (a DISCONNECT, or a refusing CONNACK to deliver).
func (e End) Orderly() bool { return e == EndDisconnect || e == EndRefused }

// Deadliner is the part of a connection the read loop needs.
type Deadliner interface{ SetReadDeadline(time.Time) error }

// ServeConfig bounds a connection's read loop.
type ServeConfig struct {
	MaxPacketSize int           // larger packets close the connection
	ConnectWait   time.Duration // time allowed for CONNECT
	OnConnect     func()        // called once CONNECT is accepted (may be nil)
	OnPacket      func(packet.Packet)
	// Idle is called (if set) whenever the reader holds no more of the
	// client's bytes, before a read that would wait for more: an engine
	// that batches sends what it holds then. r must have a Buffered method
	// (a bufio.Reader) for Idle to be called between packets.
	Idle func() error
}

// Serve reads packets from r and hands them to the connection until it ends,
// enforcing the connect timeout and the keep-alive through conn's read
// deadline. It returns why the connection ended and the error behind it.
func (s *Connection) Serve(conn Deadliner, r io.Reader, cfg ServeConfig) (End, error) {
	conn.SetReadDeadline(time.Now().Add(cfg.ConnectWait))
	buffered, _ := r.(interface{ Buffered() int })
	for {
		if cfg.Idle != nil && (buffered == nil || buffered.Buffered() == 0) {
			if err := cfg.Idle(); err != nil {
				return EndEngine, fmt.Errorf("%w: %w", ErrEngine, err)
			}
		}
		p, err := readPacket(r, cfg.MaxPacketSize)
		if err != nil {
			return s.readFailed(err)
		}
		if cfg.OnPacket != nil {
			cfg.OnPacket(p)
		}
		wasConnected := s.Connected()
		err = s.Handle(p)
		if !wasConnected && s.Connected() && cfg.OnConnect != nil {
			cfg.OnConnect()
		}
		if err != nil {
			return endFor(err), err
		}
		if d := s.ReadDeadline(); d > 0 {
			conn.SetReadDeadline(time.Now().Add(d))
		} else {
			conn.SetReadDeadline(time.Time{})
		}
	}
}

// readPacket reads one packet whose whole size — fixed header included —
// is at most maxSize bytes (0: the protocol's limit); a larger one is
// refused before its body is read.
func readPacket(r io.Reader, maxSize int) (packet.Packet, error) {
	h, err := packet.ReadFixedHeader(r)
	if err != nil {
		return nil, err
	}
	if maxSize > 0 {
		if size := 1 + lengthBytes(h.RemainingLength) + h.RemainingLength; size > maxSize {
			return nil, fmt.Errorf("%s of %d bytes, -max-packet-size %d: %w", h.Type, size, maxSize, packet.ErrPacketTooLarge)
		}
	}
	return packet.ReadBody(r, h, 0)
}

// lengthBytes is how many bytes the remaining length n takes on the wire.
func lengthBytes(n int) int {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	}
	return 4
}

func (s *Connection) readFailed(err error) (End, error) {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		if !s.Connected() {
			return EndConnectTimeout, err
		}
		return EndKeepAlive, err
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.EPIPE):
		return EndClosed, err
	}
	err = s.DecodeError(err)
	return endFor(err), err
}

func endFor(err error) End {
	switch {
	case errors.Is(err, ErrDisconnect):
		return EndDisconnect
	case errors.Is(err, ErrRefused):
		return EndRefused
	case errors.Is(err, ErrEngine):
		return EndEngine
	}
	return EndProtocol
}
