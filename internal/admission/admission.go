package admission

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// LimitError is a refusal because a broker or kernel limit is reached: it
// names the limit and how to raise it, for the refusal's log line.
type LimitError struct {
	Limit string // the limit's name: a flag, a sysctl, an rlimit
	Fix   string // how to raise it
	Err   error
}

func (e *LimitError) Error() string { return e.Limit + " reached: " + e.Err.Error() }
func (e *LimitError) Unwrap() error { return e.Err }

// Gate applies -max-accept-rate (with bursts of -accept-burst) and
// -max-clients. It is safe for concurrent use.
type Gate struct {
	mu                  sync.Mutex
	rate, burst, tokens float64
	last                time.Time
	maxClients          int
}

// NewGate returns a gate taking rate connections a second (0: no limit), at
// most burst at once, and at most maxClients clients.
func NewGate(rate float64, burst, maxClients int) *Gate {
	b := float64(max(burst, 1))
	return &Gate{rate: rate, burst: b, tokens: b, maxClients: maxClients}
}

// Admit decides on a new connection while connected clients are served: nil,
// or a *LimitError to refuse it with.
func (g *Gate) Admit(now time.Time, connected int) error {
	if !g.take(now) {
		return &LimitError{Limit: "-max-accept-rate", Fix: "raise -max-accept-rate / -accept-burst",
			Err: fmt.Errorf("more than %g new connections per second", g.rate)}
	}
	if connected >= g.maxClients {
		return &LimitError{Limit: "-max-clients", Fix: "start the broker with a larger -max-clients",
			Err: fmt.Errorf("%d clients connected", connected)}
	}
	return nil
}

// take takes a token from the rate's bucket.
func (g *Gate) take(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.rate <= 0 {
		return true
	}
	if !g.last.IsZero() {
		g.tokens = min(g.burst, g.tokens+now.Sub(g.last).Seconds()*g.rate)
	}
	g.last = now
	if g.tokens < 1 {
		return false
	}
	g.tokens--
	return true
}

// Refuser turns connections away. Under a flood it logs one line a second
// per limit, with the count of refusals held back. It is safe for
// concurrent use.
type Refuser struct {
	log    zerolog.Logger
	mu     sync.Mutex
	logged map[string]time.Time // per limit: when a refusal was last logged
	held   map[string]int       // per limit: refusals not logged since
}

// NewRefuser returns a Refuser that logs to log.
func NewRefuser(log zerolog.Logger) *Refuser {
	return &Refuser{log: log, logged: map[string]time.Time{}, held: map[string]int{}}
}

// connackUnavailable is CONNACK: type 2, remaining length 2, no session
// present, return code 3 (server unavailable).
var connackUnavailable = []byte{0x20, 0x02, 0x00, 0x03}

// Refuse answers conn with CONNACK 3 and closes it, logging why (err, a
// *LimitError where a limit is the reason). It does not parse MQTT: it
// writes the four constant bytes, stops writing, and lets the client's
// CONNECT drain so the close is not a reset. It returns at once.
func (r *Refuser) Refuse(conn net.Conn, err error) {
	var le *LimitError
	key := "other"
	if errors.As(err, &le) {
		key = le.Limit
	}
	now := time.Now()
	r.mu.Lock()
	if now.Sub(r.logged[key]) >= time.Second {
		ev := r.log.Warn().Err(err).Str("remote", conn.RemoteAddr().String())
		if le != nil {
			ev = ev.Str("limit", le.Limit).Str("fix", le.Fix)
		}
		ev.Int("refused_since_last_line", r.held[key]).Msg("client refused: server unavailable")
		r.logged[key], r.held[key] = now, 0
	} else {
		r.held[key]++
	}
	r.mu.Unlock()
	go func() {
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write(connackUnavailable); err != nil {
			return
		}
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		io.Copy(io.Discard, io.LimitReader(conn, 1<<20))
	}()
}

// AcceptLoop calls handle with every connection ln accepts, until ln is
// closed. A temporary error (out of descriptors, say) backs off (Backoff)
// instead of ending the loop.
func AcceptLoop(ln net.Listener, log zerolog.Logger, handle func(net.Conn)) {
	var backoff Backoff
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff.Wait(log, err)
			continue
		}
		backoff.Reset()
		handle(conn)
	}
}

// Backoff spaces an accept loop's retries after a failure that may pass
// (out of descriptors, say): from 5 ms, doubling, up to a second, instead
// of spinning. The zero value is ready; Reset after an accept succeeds.
type Backoff struct{ next time.Duration }

// Wait logs err and sleeps the next step.
func (b *Backoff) Wait(log zerolog.Logger, err error) {
	b.next = min(max(2*b.next, 5*time.Millisecond), time.Second)
	log.Warn().Err(err).Dur("backoff", b.next).Msg("accept failed")
	time.Sleep(b.next)
}

// Reset starts the next failure's backoff from its first step.
func (b *Backoff) Reset() { b.next = 0 }
