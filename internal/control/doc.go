// Package control is the typed channel between the supervisor and each of
// its workers, after OpenSSH's privilege-separation monitor: one list of
// message types, one Go type per message with its own encoder and decoder,
// and a table of which message each role may send in which state, checked by
// whoever receives it.
//
// # Why a channel
//
// The supervisor is the arbiter of every worker's life: it hands a client to
// an idle worker, decides who owns a client identifier, stops the old pair
// on a takeover, and publishes wills. Workers ask and announce; they never
// signal each other, nor read each other's files to guess a state. Every
// such question and answer is a message here.
//
// # Transport
//
// A SOCK_SEQPACKET socket pair per worker (Pair): the supervisor keeps one
// end, the worker inherits the other on a fixed descriptor named by the
// spawn contract. SEQPACKET keeps message boundaries, so one datagram is one
// message and needs no length prefix, and a peer's death reads as EOF.
// Descriptors (a client's socket, the pair channel's end, a will)
// travel with the message that names them, as SCM_RIGHTS ancillary data, so
// a message and its descriptors arrive together or not at all. The
// supervisor's ends wait in the runtime's poller; a worker's end waits
// there only for what it can read (quietSocket), since the poller would
// also wake it each time the supervisor read what it sent.
//
// # Wire format
//
// One datagram of at most MaxSize bytes:
//
//	type (1) | fields of that type, in the order its Go type lists them
//
// Fields are big endian: u8, u32, u64; a bool is one byte 0 or 1; a string is
// a u16 length and at most MaxString bytes. Nothing may follow the last field.
// Each type carries a fixed number of descriptors (the type list says how
// many); a datagram with more, fewer or truncated ancillary data is refused
// and every descriptor it brought is closed.
//
// # Roles, states and the table
//
// A worker starts as an idle pool worker (RolePool), says Ready, and waits
// in the pool. Hand makes it a router or a deliverer of one client,
// PublishWill a will publisher. When its client is gone it cleans up, says
// CleanupDone, and either returns to the pool (Idle, role RolePool again) or
// says Exiting. PublishSys makes a worker the $SYS publisher until it is
// stopped (the supervisor starts one worker for it, outside the pool).
//
//	Starting  ──Ready──────────────▶ Idle
//	Idle      ──Hand, PublishWill──▶ Assigned     (role: router, deliverer or will)
//	Idle      ──PublishSys─────────▶ Assigned     (role: sys, for good)
//	Assigned  ──Claim──────────────▶ Claiming     (router only)
//	Claiming  ──Grant──────────────▶ Connected
//	Claiming  ──Refuse─────────────▶ Closing
//	Connected ──Takeover───────────▶ Closing
//	Assigned, Connected, Closing ──CleanupDone──▶ Cleaned
//	Cleaned   ──Idle───────────────▶ Idle         (role: pool again)
//	Assigned, Stopping ──PartnerIdle──▶ unchanged (deliverer only: its router's
//	                                  CleanupDone and Idle, said for it)
//	any       ──Stop───────────────▶ Stopping     (CleanupDone there keeps it Stopping)
//	any       ──Exiting────────────▶ Exited
//
// Will, WillCleared and Adopt keep a connected router's state (and are still
// taken in Closing and Stopping); Reload keeps the state, in every live
// state but Starting, Closing and Stopping.
//
// A router that ends its client in order after claiming it does not say
// CleanupDone and Idle itself: its deliverer says PartnerIdle for it with
// its own end, in one system call, and the supervisor checks what that
// stands for (PartnerEnd) against the router's track; the router applies
// the same to its own track as it hands its deliverer the close request.
//
// Both ends keep a Track of the worker's role and state and apply every
// message, sent or received, to it; the table (rules in table.go, read
// through Lookup) says which message is allowed where and what state
// follows. A received message the table does not allow is an error: the
// supervisor ends that worker with a log line, a worker exits.
//
// Messages from the two ends can cross: the supervisor may send Stop while a
// worker's Claim is on its way. The table therefore marks a few messages as
// late (Rule.Late) in the states a crossing can reach. A late message is
// accepted on receipt and keeps the state; its receiver ignores it (a Claim
// after Stop is never granted). A sender never sends a message that would be
// late in its own view of the state.
//
// # Where it is used
//
// The spawn contract names the worker's descriptor (spawn.FdControl); the
// supervisor reads every worker's channel through one Inbox, keeps a Track
// per worker and ends the worker on any error the Inbox hands back or of
// Track.Receive (package supervisor), and workers run the same
// Track (package worker, link.go).
package control
