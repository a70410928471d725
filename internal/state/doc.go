// Package state names the files a broker keeps in its state directory, so
// the supervisor and the workers (which all read and write them) agree.
//
//	broker.lock                 flock held by the running broker
//	conns                       the connections being served: a mapped table of their
//	                            sequence numbers (package conntable)
//	sessions/<hash>             a persistent session: the client identifier
//	sessions/<hash>.in/<id>     QoS 2 packet identifiers received and not yet released
//	topics/                     per-topic files (package topicdir)
//	spool/                      publications too large for a queue message (each
//	                            live queue's segment file, spool/<queue>/segment,
//	                            and a file each above 64 KiB), the mailboxes of
//	                            persistent sessions (package mailstore), and each
//	                            worker's files being written, tmp/<slot>/ (package spool)
//	retained/                   retained messages (package retain)
//
// Who holds a client identifier and a connection's will are the
// supervisor's to know (package control), not files. <conn> is the
// connection's queue name, forkmq.<instance>.<seq>; <hash> is
// the hex SHA-256 of the client identifier (so no identifier can name a
// path), and a persistent session's queue is forkmq.<instance>.s<hash[:24]>.
package state
