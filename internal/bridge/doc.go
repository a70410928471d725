// Package bridge connects the broker to another MQTT 3.1.1 broker as
// mosquitto's bridges do (its `connection` blocks): chosen topics are
// forwarded out (local to remote), in (remote to local) or both ways, with
// each side's prefix, over one client connection to the remote broker that
// is re-established with back-off when the remote goes away.
//
// The bridge does not know the local broker's insides: it publishes into
// it through Local, and the broker hands it every local publication that
// matches Filters through Forward (never one the bridge published itself:
// the broker's half of loop prevention). The remote's half: a 3.1.1 broker
// sends a subscriber its own publications back, so a message the bridge
// sends out on a topic it also takes in comes back once; the bridge
// remembers what it sent and drops that echo, so a `both` topic does not
// loop.
//
// QoS 1 in either direction survives a restart of the remote broker: the
// remote session is persistent unless cleansession is true, messages
// forwarded out while the connection is down wait in the client's store
// and are sent when it is back, and a message coming in is acknowledged to
// the remote only once Local has taken it.
//
// In the process engine a bridge is a process of its own (ProcessMain):
// its Local is a LocalClient, an MQTT client of the local broker over a
// socket the supervisor hands a worker pair like any connection.
package bridge
