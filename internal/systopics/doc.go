// Package systopics is what forkmq publishes under $SYS, once for both
// engines: mosquitto's topic names and payload formats, the load averages,
// and the loop that refreshes them every sys_interval. Each engine supplies
// the counts (Source: the process engine sums its scoreboard, the goroutine
// engine its in-memory one) and the way to publish a retained message
// through its normal routing path, so a subscriber gets $SYS messages as it
// gets any other, subject to the same access rules.
//
// # Topics
//
//	$SYS/broker/version                    "forkmq version REV"
//	$SYS/broker/uptime                     "N seconds"
//	$SYS/broker/clients/connected          clients past CONNECT
//	$SYS/broker/clients/disconnected       persistent sessions whose client is away
//	$SYS/broker/clients/total              the two together
//	$SYS/broker/clients/maximum            the most connected at once since start
//	$SYS/broker/messages/received          PUBLISH packets read from clients (*)
//	$SYS/broker/messages/sent              PUBLISH packets written to clients (*)
//	$SYS/broker/publish/messages/received  the same as messages/received
//	$SYS/broker/publish/messages/sent      the same as messages/sent
//	$SYS/broker/publish/messages/dropped   publications dropped (stalled subscriber, full session)
//	$SYS/broker/bytes/received             bytes read from client sockets
//	$SYS/broker/bytes/sent                 bytes written to client sockets
//	$SYS/broker/subscriptions/count        topic filters subscribed, over every session
//	$SYS/broker/retained messages/count    retained messages stored
//	$SYS/broker/heap/current               bytes of anonymous memory of every process of the broker (RssAnon)
//	$SYS/broker/load/messages/received/1min, 5min, 15min
//	$SYS/broker/load/messages/sent/…, load/bytes/received/…, load/bytes/sent/…,
//	$SYS/broker/load/publish/dropped/…, load/connections/…
//
// (*) mosquitto counts every packet in messages/received and sent; forkmq's
// workers count PUBLISH packets only, so the two pairs are the same.
//
// The loads are mosquitto's: exponentially damped moving averages of the
// rate per minute over 1, 5 and 15 minutes, updated at each refresh, with
// two decimals.
//
// Every message is retained, so a new subscriber gets the latest values at
// once. As mosquitto does, a refresh publishes only the topics whose value
// changed (every one the first time); uptime changes at every refresh.
package systopics
