// Package state names the files a broker keeps in its state directory, so
// the supervisor and the workers (which all read and write them) agree.
//
//	broker.lock                 flock held by the running broker
//	clients/<conn>              one record per connection being served (its remote address)
//	clients/<conn>.id           the client identifier, written by the router after CONNECT
//	clients/<conn>.will         the will, while the connection may still end abnormally
//	clients/<conn>.session      the persistent session queue the connection adopted
//	ids/<hash>                  flock held by the router serving that client identifier
//	sessions/<hash>             a persistent session: the client identifier
//	sessions/<hash>.in/<id>     QoS 2 packet identifiers received and not yet released
//	topics/                     per-topic files (package topicdir)
//	spool/                      publications too large for a queue message, and the
//	                            mailboxes of persistent sessions (package spool)
//	retained/                   retained messages (package retain)
//
// <conn> is the connection's queue name, forkmq.<instance>.<seq>; <hash> is
// the hex SHA-256 of the client identifier (so no identifier can name a
// path), and a persistent session's queue is forkmq.<instance>.s<hash[:24]>.
package state
