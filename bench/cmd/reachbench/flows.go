package main

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// dialer connects a client: over plain TCP, or TLS with the CA's pool.
type dialer struct {
	addr string
	tls  *tls.Config // nil: plain
}

func (d dialer) conn(ctx context.Context) (net.Conn, error) {
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil || d.tls == nil {
		return nc, err
	}
	tc := tls.Client(nc, d.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return tc, nil
}

// mqtt connects and sends CONNECT, waiting for CONNACK.
func (d dialer) mqtt(ctx context.Context, id string) (*rawmqtt.Conn, error) {
	nc, err := d.conn(ctx)
	if err != nil {
		return nil, err
	}
	c := rawmqtt.NewConn(nc, rawmqtt.Options{ClientID: id})
	if err := c.Handshake(rawmqtt.MQTT311(id).Bytes()); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// subscriber is a client subscribed to a topic, counting what it receives
// and handing each PUBLISH's payload to onMsg.
type subscriber struct {
	c     *rawmqtt.Conn
	got   atomic.Int64
	ended chan error
}

func subscribe(ctx context.Context, d dialer, id, filter string, onMsg func([]byte)) (*subscriber, error) {
	c, err := d.mqtt(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := c.Subscribe(1, 0, filter); err != nil {
		c.Close()
		return nil, err
	}
	s := &subscriber{c: c, ended: make(chan error, 1)}
	go func() {
		s.ended <- c.Serve(func(p *rawmqtt.Packet) error {
			if p.Type() == rawmqtt.TypePublish {
				if onMsg != nil {
					onMsg(p.Body)
				}
				s.got.Add(1)
			}
			return nil
		})
	}()
	return s, nil
}

// stream publishes n QoS 0 messages of size bytes to topic through pub,
// bursts of 64, never more than 4,096 ahead of what sub received; it
// returns once sub has them all or nothing arrived for 3 s, with how many
// arrived and how long it took.
func stream(pub *rawmqtt.Conn, sub *subscriber, topic string, n, size int) (int64, time.Duration, error) {
	payload := make([]byte, size)
	start := time.Now()
	base := sub.got.Load()
	for i := 0; i < n; i++ {
		if err := pub.BufferPublish(topic, 0, 0, nil, payload); err != nil {
			return sub.got.Load() - base, time.Since(start), err
		}
		if i%64 == 63 {
			if err := pub.Flush(); err != nil {
				return sub.got.Load() - base, time.Since(start), err
			}
		}
		if i%1024 == 1023 {
			if err := waitFor(sub, base+int64(i)-4096); err != nil {
				return sub.got.Load() - base, time.Since(start), err
			}
		}
	}
	if err := pub.Flush(); err != nil {
		return 0, 0, err
	}
	err := waitFor(sub, base+int64(n))
	return sub.got.Load() - base, time.Since(start), err
}

// waitFor waits until sub has received at least want messages, or none
// arrived for 3 s.
func waitFor(sub *subscriber, want int64) error {
	last, since := sub.got.Load(), time.Now()
	for {
		got := sub.got.Load()
		if got >= want {
			return nil
		}
		if got != last {
			last, since = got, time.Now()
		}
		if time.Since(since) > 3*time.Second {
			return fmt.Errorf("stalled at %d of %d", got, want)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// latencies publishes one timestamped message every gap for d and returns
// the sorted delivery latencies the subscriber saw.
func latencies(ctx context.Context, d dialer, id string, gap, dur time.Duration) ([]time.Duration, error) {
	var mu sync.Mutex
	var lat []time.Duration
	topic := "lat/" + id
	sub, err := subscribe(ctx, d, id+"-sub", topic, func(b []byte) {
		if len(b) < 8 {
			return
		}
		sent := time.Unix(0, int64(binary.BigEndian.Uint64(b[len(b)-8:])))
		mu.Lock()
		lat = append(lat, time.Since(sent))
		mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	defer sub.c.Close()
	pub, err := d.mqtt(ctx, id+"-pub")
	if err != nil {
		return nil, err
	}
	defer pub.Close()
	payload := make([]byte, 64)
	tick := time.NewTicker(gap)
	defer tick.Stop()
	end := time.Now().Add(dur)
	sent := 0
	for time.Now().Before(end) {
		<-tick.C
		binary.BigEndian.PutUint64(payload[56:], uint64(time.Now().UnixNano()))
		if err := pub.BufferPublish(topic, 0, 0, nil, payload); err != nil {
			return nil, err
		}
		if err := pub.Flush(); err != nil {
			return nil, err
		}
		sent++
	}
	if err := waitFor(sub, int64(sent)); err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	return lat, nil
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// handshakes connects, CONNECTs and DISCONNECTs TLS clients at rate a
// second until ctx ends, on as many goroutines as needed; it returns how
// many completed and how many failed.
func handshakes(ctx context.Context, d dialer, rate int) (ok, failed int64) {
	var wg sync.WaitGroup
	var okN, failN atomic.Int64
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	sem := make(chan struct{}, 64)
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			return okN.Load(), failN.Load()
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			failN.Add(1) // 64 under way: the broker is not keeping up
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := d.mqtt(hctx, fmt.Sprintf("hs-%d", i))
			if err != nil {
				failN.Add(1)
				return
			}
			c.Disconnect()
			c.Close()
			okN.Add(1)
		}()
	}
}

var errLost = errors.New("messages lost")
