package goengine

import (
	"context"
	"sync"

	"github.com/forkmq/forkmq/internal/bridge"
	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/packet"
)

// Bridges (issue 14): each bridge is a subscriber in the index that is no
// client — a session whose copies Offer hands to the bridge's Forward — and
// a publisher of its own, a core.Router without a client like the $SYS
// publisher's, through which what comes in from the remote is routed. That
// router skips the bridge's own session (Offer), so a message that came
// over the bridge never goes back over it.

// localBridge is one bridge of the engine.
type localBridge struct {
	b    *bridge.Bridge
	sess *session // its subscriptions, for Offer to recognise
	r    *router  // routes what comes in
	mu   sync.Mutex
}

// AddBridge adds a bridge, started by Run; call it before Run.
func (e *Engine) AddBridge(cfg bridge.Config) error {
	lb := &localBridge{sess: newSession(e.connPrefix()+"bridge."+cfg.Name, false)}
	lb.sess.forward = func(m *core.Message, qos packet.QoS) {
		lb.b.Forward(bridge.Message{Topic: m.Topic, Payload: m.Payload, QoS: byte(qos), Retain: m.Retain})
	}
	lb.r = &router{e: e, log: e.log.With().Str("role", "bridge").Str("bridge", cfg.Name).Logger(), bridge: lb.sess}
	lb.r.core = core.NewRouter[*session](lb.r.log, &memIndex{x: e.index, m: e.index.NewMatcher()}, lb.r, nil, nil, e.retained)
	b, err := bridge.New(cfg, lb, e.log)
	if err != nil {
		return err
	}
	lb.b = b
	// mosquitto's $SYS/broker/connection/NAME/state: 1 while connected.
	b.OnState(func(up bool) {
		state := "0"
		if up {
			state = "1"
		}
		topic := bridge.StateTopic(cfg.Name)
		if err := lb.Publish(bridge.Message{Topic: topic, Payload: []byte(state), Retain: true}); err != nil {
			lb.r.log.Warn().Err(err).Str("topic", topic).Msg("bridge state not published")
		}
	})
	for _, f := range b.Filters() {
		e.index.Subscribe(f, lb.sess, packet.AtLeastOnce)
		lb.sess.addFilter(f)
	}
	e.bridges = append(e.bridges, lb)
	return nil
}

// Publish implements bridge.Local: a message from the remote, routed as
// any client's publication (the bridge's session excepted), retained if
// it says so.
func (lb *localBridge) Publish(m bridge.Message) error {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	p := &packet.Publish{Topic: m.Topic, QoS: packet.QoS(m.QoS), Retain: m.Retain, Payload: m.Payload}
	if p.Retain {
		if err := lb.r.core.Retain(p); err != nil {
			return err
		}
	}
	return lb.r.core.Publish(p)
}

// runBridges runs every bridge until ctx ends; the channel returned is
// closed when they have all disconnected.
func (e *Engine) runBridges(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, lb := range e.bridges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lb.b.Run(ctx)
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// BridgeStats returns each bridge's state by name.
func (e *Engine) BridgeStats() map[string]bridge.Stats {
	out := map[string]bridge.Stats{}
	for _, lb := range e.bridges {
		out[lb.b.Name()] = lb.b.Stats()
	}
	return out
}
