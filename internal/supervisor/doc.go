// Package supervisor is the broker's parent process: it listens, and for
// every accepted client creates the client's POSIX queue and starts the
// client's two workers (router and deliverer, see package worker), handing
// down the socket as an inherited descriptor. It reaps the workers, stops the
// partner of any worker that exits, and cleans up the client's queue, topic
// entries and spool once both are gone.
//
// The supervisor never parses MQTT and never reads a socket or a queue; a
// stuck client can never stall it. One loop acts on everything — accepted
// connections, worker exits and signals — so no state is shared between
// goroutines (the accept loop and the per-child wait goroutines only send
// events to it).
package supervisor
