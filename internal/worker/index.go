package worker

import (
	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/spool"
	"github.com/forkmq/forkmq/internal/topicdir"
)

// topicFiles is the process engine's core.Index: the per-topic files every
// router edits and reads (package topicdir), keyed by queue name.
type topicFiles struct {
	dir     *topicdir.Dir
	matcher *topicdir.Matcher
	subs    []topicdir.Subscriber // scratch for Match
	loads   uint64                // the matcher's Loads when last seen
	changed func()                // called when subscriptions changed
}

// newTopicFiles returns the index; changed, if not nil, is called before a
// Match that sees subscriptions changed since the last one.
func newTopicFiles(dir *topicdir.Dir, changed func()) *topicFiles {
	return &topicFiles{dir: dir, matcher: dir.NewMatcher(), changed: changed}
}

// Subscribe implements core.Index.
func (t *topicFiles) Subscribe(queue, filter string, qos packet.QoS) error {
	_, err := t.dir.Subscribe(queue, filter, byte(qos))
	return err
}

// Unsubscribe implements core.Index.
func (t *topicFiles) Unsubscribe(queue, filter string) error {
	_, err := t.dir.Unsubscribe(queue, filter)
	return err
}

// Match implements core.Index.
func (t *topicFiles) Match(topic string, dst []core.Target[string]) ([]core.Target[string], error) {
	subs, err := t.matcher.Match(topic, t.subs[:0])
	t.subs = subs
	if l := t.matcher.Loads(); l != t.loads {
		t.loads = l
		if t.changed != nil {
			t.changed()
		}
	}
	for _, s := range subs {
		dst = append(dst, core.Target[string]{Key: s.Queue, QoS: packet.QoS(s.QoS)})
	}
	return dst, err
}

// clientIndex is one router's core.Index: the topic files, and its
// client's spool folder made before the client's first subscription, the
// moment other routers can first find the queue and spool copies to it
// (see spool.AddQueue). A client that subscribes to nothing — most
// connections of a connect storm — leaves the spool untouched, and the
// supervisor's removal of its folder is one rmdir that finds nothing.
type clientIndex struct {
	*topicFiles
	spool  *spool.Spool
	folder bool // the client's folder is made
}

// Subscribe implements core.Index.
func (x *clientIndex) Subscribe(queue, filter string, qos packet.QoS) error {
	if !x.folder {
		if err := x.spool.AddQueue(queue); err != nil {
			return err
		}
		x.folder = true
	}
	return x.topicFiles.Subscribe(queue, filter, qos)
}
