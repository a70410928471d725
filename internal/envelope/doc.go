// Package envelope is the process engine's wire format for core.Items: the
// messages that reach a client's deliverer, the only process that writes
// to the client's socket, through its POSIX queue (the routers of every
// publisher whose messages match the client's subscriptions) or its pair
// channel (its own router: replies, acknowledgements, the requests to
// start, hold, release and close, and its own copies). Queue messages are
// small (the queue's message size is planned from the RLIMIT_MSGQUEUE
// budget), so a publication that does not fit travels through the spool:
// in the receiving queue's segment, the envelope carrying its place, or as
// a spool file shared by several queues, the envelope carrying its name.
//
// Wire format, one queue message or pair datagram each:
//
//	KindPacket   0x01 | MQTT packet bytes, written to the socket as they are
//	KindPublish  0x02 | flags | topic length (2, big endian) | topic | payload
//	KindSpooled  0x03 | spool file name; the file holds a whole envelope that
//	                    did not fit in a queue message (usually a KindPublish)
//	KindClose    0x04 [| 0x01 | sent (4)]  flush what came before, then close
//	                    [0x01: the router is back in the pool already; the
//	                    deliverer says so for it, control.PartnerIdle, with
//	                    the count of control messages the router has sent]
//	KindMailbox  0x05 | file name in the persistent session's mailbox (kept until acknowledged)
//	                    [| 0x00 | the entry's envelope, when it fits: the deliverer need not read it]
//	KindAck      0x06 | packet type | packet id (2)   the client's PUBACK, PUBREC or PUBCOMP
//	KindAdopt    0x07 | queue name   CONNACK is out: read this queue from now on
//	                                 (a persistent session's: after replaying its mailbox)
//	KindHold     0x08                subscriptions are being made: hold publications
//	                                 from the queue until KindRelease
//	KindRelease  0x09                SUBACK is out: write the held publications
//	KindBatch    0x0a | (uvarint length | envelope)…   several envelopes, in order
//	KindSegment  0x0b | offset (8) | length (8)   what a KindSpooled file would hold,
//	                    at that place in the queue's spool segment (package spool)
//
// flags uses the bit layout of a PUBLISH fixed header: bit 0 retain, bits 1–2
// QoS, bit 3 DUP.
package envelope
