// Command worker is one of the two processes that serve each MQTT client of
// forkmq: the router (reads the client's packets and routes them) or the
// deliverer (writes the client's queue to its socket). The broker starts it;
// it is not meant to be run by hand. See internal/spawn for its contract.
package main
