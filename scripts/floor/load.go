package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The load: n publishers and n subscribers on 2n TCP connections, one
// PUBLISH at QoS 1 a second from each publisher to its own topic (the
// seed's shape), each subscriber answering every delivery with a PUBACK.
// Against an MQTT broker it connects and subscribes first; against the
// floor it says hello instead (the floor does not speak MQTT, but what it
// forwards is the same PUBLISH and what it answers a PUBACK).
type load struct {
	subs, pubs             []*client
	sent, delivered, acked atomic.Int64
	malformed              atomic.Int64
	stop                   chan struct{}
	wg                     sync.WaitGroup
}

type client struct {
	conn net.Conn
	r    *bufio.Reader
	wmu  sync.Mutex // the subscriber's PUBACKs and nothing else; the publisher's loop alone writes its conn
}

func topic(pair int) string { return fmt.Sprintf("floor/%04d", pair) }

// dialLoad opens the 2n connections, subscriber before publisher for each
// pair; mqtt says whether to speak MQTT (CONNECT, SUBSCRIBE) or hello.
func dialLoad(addr string, n int, mqtt bool) (*load, error) {
	l := &load{stop: make(chan struct{})}
	dial := func(id string, first []byte, want []byte) (*client, error) {
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return nil, err
		}
		c := &client{conn: conn, r: bufio.NewReader(conn)}
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		if !mqtt {
			_, err = conn.Write(first)
			return c, err
		}
		if _, err := conn.Write(connectPacket(id)); err != nil {
			return nil, err
		}
		if err := expect(c.r, []byte{0x20, 0x02, 0, 0}); err != nil {
			return nil, fmt.Errorf("%s: CONNACK: %w", id, err)
		}
		if first != nil {
			if _, err := conn.Write(first); err != nil {
				return nil, err
			}
			if err := expect(c.r, want); err != nil {
				return nil, fmt.Errorf("%s: SUBACK: %w", id, err)
			}
		}
		conn.SetDeadline(time.Time{})
		return c, nil
	}
	for i := 0; i < n; i++ {
		first, want := hello(true, i), []byte(nil)
		if mqtt {
			first, want = subscribePacket(topic(i)), []byte{0x90, 0x03, 0, 1, 1}
		}
		s, err := dial(fmt.Sprintf("floor-s%d", i), first, want)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("subscriber %d: %w", i, err)
		}
		l.subs = append(l.subs, s)
		first = hello(false, i)
		if mqtt {
			first = nil
		}
		p, err := dial(fmt.Sprintf("floor-p%d", i), first, nil)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("publisher %d: %w", i, err)
		}
		l.pubs = append(l.pubs, p)
	}
	return l, nil
}

// run starts the readers and the publishers: each publisher sends one
// PUBLISH of size payload bytes every 1/rate s, from a random offset in
// the first period, until stop.
func (l *load) run(rate float64, size int, seed uint64) {
	for _, s := range l.subs {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); l.readSubscriber(s) }()
	}
	for _, p := range l.pubs {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); l.readPublisher(p) }()
	}
	period := time.Duration(float64(time.Second) / rate)
	r := rand.New(rand.NewPCG(seed, 0xf100))
	start := time.Now()
	payload := make([]byte, size)
	for i, p := range l.pubs {
		offset := time.Duration(r.Int64N(int64(period)))
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			t := time.NewTimer(time.Until(start.Add(offset)))
			defer t.Stop()
			var id uint16
			for next := start.Add(offset); ; next = next.Add(period) {
				select {
				case <-l.stop:
					return
				case <-t.C:
				}
				id++
				if id == 0 {
					id = 1
				}
				if _, err := p.conn.Write(publishPacket(topic(i), id, payload)); err != nil {
					return
				}
				l.sent.Add(1)
				t.Reset(time.Until(next.Add(period)))
			}
		}()
	}
}

func (l *load) readSubscriber(c *client) {
	for {
		typ, body, err := readPacket(c.r)
		if err != nil {
			return
		}
		if typ>>4 != 3 {
			l.malformed.Add(1)
			continue
		}
		l.delivered.Add(1)
		if qos := typ >> 1 & 3; qos == 1 && len(body) >= 2 {
			tl := int(body[0])<<8 | int(body[1])
			if len(body) < 2+tl+2 {
				l.malformed.Add(1)
				continue
			}
			id := body[2+tl : 2+tl+2]
			if _, err := c.conn.Write([]byte{0x40, 0x02, id[0], id[1]}); err != nil {
				return
			}
		}
	}
}

func (l *load) readPublisher(c *client) {
	for {
		typ, _, err := readPacket(c.r)
		if err != nil {
			return
		}
		if typ>>4 == 4 {
			l.acked.Add(1)
		} else {
			l.malformed.Add(1)
		}
	}
}

// finish stops the publishers and waits up to drain for what they sent to
// be delivered and acknowledged.
func (l *load) finish(drain time.Duration) {
	close(l.stop)
	deadline := time.Now().Add(drain)
	for time.Now().Before(deadline) && (l.delivered.Load() < l.sent.Load() || l.acked.Load() < l.sent.Load()) {
		time.Sleep(10 * time.Millisecond)
	}
}

// close closes every connection and waits for the load's goroutines.
func (l *load) close() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	for _, c := range append(l.subs, l.pubs...) {
		c.conn.Close()
	}
	l.wg.Wait()
}

// readPacket reads one MQTT packet: its first byte and its body.
func readPacket(r *bufio.Reader) (byte, []byte, error) {
	typ, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	var length, shift int
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		length |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
		if shift += 7; shift > 21 {
			return 0, nil, errors.New("remaining length longer than 4 bytes")
		}
	}
	body := make([]byte, length)
	_, err = io.ReadFull(r, body)
	return typ, body, err
}

func expect(r *bufio.Reader, want []byte) error {
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil {
		return err
	}
	if string(got) != string(want) {
		return fmt.Errorf("got % x, want % x", got, want)
	}
	return nil
}

// packet prepends the fixed header: the first byte and the remaining
// length [MQTT-2.2.3].
func packet(first byte, body []byte) []byte {
	out := []byte{first}
	n := len(body)
	for {
		b := byte(n & 0x7f)
		if n >>= 7; n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			break
		}
	}
	return append(out, body...)
}

func str(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

// connectPacket is a clean-session CONNECT of MQTT 3.1.1, keep-alive 60 s.
func connectPacket(id string) []byte {
	body := append(str("MQTT"), 4, 0x02, 0, 60)
	return packet(0x10, append(body, str(id)...))
}

// subscribePacket subscribes to one filter at QoS 1, packet identifier 1
// (reserved bits 0010 [MQTT-3.8.1-1]).
func subscribePacket(filter string) []byte {
	body := append([]byte{0, 1}, str(filter)...)
	return packet(0x82, append(body, 1))
}

// publishPacket is a QoS 1 PUBLISH.
func publishPacket(topic string, id uint16, payload []byte) []byte {
	body := append(str(topic), byte(id>>8), byte(id))
	return packet(0x32, append(body, payload...))
}
