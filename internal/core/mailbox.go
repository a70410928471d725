package core

// Mailbox is a persistent session's store of QoS 1/2 messages: each entry
// is kept until the client settles it, and its progress (sent under an
// identifier, PUBREC received) is recorded, so that a new connection resends
// exactly what is unsettled, with the same identifiers and DUP set
// [MQTT-4.4.0-1], and never a QoS 2 message again once PUBREC came.
type Mailbox interface {
	// Unsettled lists the flows under way, oldest first: Items with Entry,
	// QoS and ID set, Msg for those not yet released.
	Unsettled() ([]Unsettled, error)
	// Rang notes news: an entry routed to the session (name "" when the
	// engine does not know which).
	Rang(entry string)
	// Rung counts the entries noted by Rang (or found) and not yet taken
	// by Next. They are the client's backlog like any publication taken
	// from its inbox: counting them stops the deliverer taking more bells
	// from a full backlog, so the inbox fills and routers wait
	// (back-pressure) instead of filling the mailbox of a session that is
	// online and reading.
	Rung() int
	// Next takes up to n entries not yet sent, oldest first.
	Next(n int) ([]Item, error)
	// Sent, Released and Settled record an entry's progress.
	Sent(entry string, id uint16) error
	Released(entry string, id uint16) error
	Settled(entry string, id uint16, released bool) error
}

// Unsettled is a flow under way in a mailbox.
type Unsettled struct {
	Item     Item
	ID       uint16
	Released bool // PUBREL is what is due, not the message
}
