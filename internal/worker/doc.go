// Package worker is the code of the processes that serve clients in the
// process engine, on the process engine's transport for package core.
//
// Every worker starts the same: an idle pool worker with only its control
// channel (see package spawn and package control). The supervisor gives it
// a role by message, and it drops everything of that role's client before
// it waits in the pool again:
//
//   - control.Hand makes it a client's router or deliverer. The router reads
//     and decodes the client's packets and runs its protocol.Connection,
//     whose engine is a core.Router on this package's transport: the topic
//     files (topicFiles), the subscribers' POSIX queues, spool and mailboxes
//     (queues), the pair channel to its own deliverer (pair) and the state
//     directory's files (files). It never writes to the socket. The
//     deliverer is the socket's only writer: one epoll loop that feeds a
//     core.Deliverer with what the pair channel and the client's queue bring
//     and writes what it makes of them. Being the only writer is what keeps
//     packets from two processes from interleaving.
//   - control.PublishWill makes it publish the will of a connection that
//     ended without DISCONNECT.
//   - control.PublishSys makes it the broker's $SYS publisher (sys.go) for
//     the rest of its life; the supervisor starts a worker for that alone.
//
// A worker counts what it does into its scoreboard slot, which it keeps for
// its life (counting.go). Every worker exits when its supervisor dies (its
// control channel reaches EOF) and when the supervisor stops it; the
// supervisor stops the other worker of a pair when one ends.
package worker
