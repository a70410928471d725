package worker

import (
	"sync"
	"time"

	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/state"
)

// writerCache keeps descriptors of the connection queues a router routes to,
// so that routing does not open and close a queue per message. A descriptor
// keeps its queue — and its share of RLIMIT_MSGQUEUE — alive after the
// subscriber has gone and the supervisor has unlinked it, so a sweeper closes
// descriptors unused for writerIdle: a departed subscriber's queue is freed
// within about two of those periods, whether or not the router publishes.
type writerCache struct {
	mu      sync.Mutex
	entries map[string]*cachedWriter
}

type cachedWriter struct {
	q    *queue.Queue
	used time.Time
}

const (
	maxWriters = 256
	writerIdle = time.Second
)

func newWriterCache() *writerCache {
	c := &writerCache{entries: make(map[string]*cachedWriter)}
	go func() {
		for range time.Tick(writerIdle) {
			c.sweep(time.Now().Add(-writerIdle))
		}
	}()
	return c
}

// get returns a descriptor for the named queue, opening one if needed. The
// caller holds it only until its send returns (see use).
func (c *writerCache) use(name string, send func(*queue.Queue) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.entries[name]
	if !ok {
		if len(c.entries) >= maxWriters {
			c.evictOldest()
		}
		q, err := queue.OpenWriter(name)
		if err != nil {
			return err
		}
		w = &cachedWriter{q: q}
		c.entries[name] = w
	}
	w.used = time.Now()
	return send(w.q)
}

// forget closes the cached descriptor of a queue, if any.
func (c *writerCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w, ok := c.entries[name]; ok {
		w.q.Close()
		delete(c.entries, name)
	}
}

func (c *writerCache) evictOldest() {
	var oldest string
	for n, w := range c.entries {
		if oldest == "" || w.used.Before(c.entries[oldest].used) {
			oldest = n
		}
	}
	c.entries[oldest].q.Close()
	delete(c.entries, oldest)
}

// forgetSessions closes the cached descriptors of session queues. A session
// discarded and started again gets a new queue under its old name, which a
// cached descriptor would miss; the index calls this when subscriptions
// change, which a new session's first SUBSCRIBE always does before anything
// is routed to it.
func (c *writerCache) forgetSessions() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, w := range c.entries {
		if state.IsSessionQueue(n) {
			w.q.Close()
			delete(c.entries, n)
		}
	}
}

// sweep closes the descriptors not used since before.
func (c *writerCache) sweep(before time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, w := range c.entries {
		if w.used.Before(before) {
			w.q.Close()
			delete(c.entries, n)
		}
	}
}
