// Package worker is the code of the processes that serve one client in the
// process engine, on the process engine's transport for package core.
//
// The supervisor starts the worker binary twice per client, once in each
// role (see package spawn for the descriptors and arguments they inherit):
//
//   - the router reads and decodes the client's packets and runs its
//     protocol.Connection, whose engine is a core.Router on this package's
//     transport: the topic files (topicFiles), the subscribers' POSIX queues,
//     spool and mailboxes (queues), the pair channel to its own deliverer
//     (pair) and the state directory's files (files). It never writes to
//     the socket.
//   - the deliverer is the socket's only writer: one epoll loop that feeds a
//     core.Deliverer with what the pair channel and the client's queue bring
//     and writes what it makes of them. Being the only writer is what keeps
//     packets from two processes from interleaving.
//
// A third, short-lived role publishes the will of a connection that ended
// without DISCONNECT. Every worker exits when its supervisor dies (the
// lifeline pipe reaches EOF) and when the supervisor stops it; the
// supervisor stops the other worker of the pair when one exits.
package worker
