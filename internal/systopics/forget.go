package systopics

import (
	"errors"

	"github.com/forkmq/forkmq/internal/retain"
)

// Forget removes the retained $SYS/broker/ messages from the store, for a
// broker that stops: as in mosquitto, $SYS values describe the running
// broker and do not outlive it (the next one publishes its own at start).
func Forget(store *retain.Store) error {
	var topics []string
	err := store.Match(Prefix+"#", func(m retain.Message) error {
		topics = append(topics, m.Topic)
		return nil
	})
	for _, t := range topics {
		err = errors.Join(err, store.Set(retain.Message{Topic: t}))
	}
	return err
}
