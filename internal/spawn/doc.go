// Package spawn is the contract between the supervisor and the worker
// processes it starts: which descriptor a worker inherits and at which
// number, which arguments and environment it receives, and what its exit
// code means.
//
// Both sides import this package, so the two can never disagree. Every
// worker is the same binary and starts as an idle pool worker; the
// supervisor gives it a role over its control channel (package control):
//
//	router     reads the client's packets, answers them and routes PUBLISH
//	deliverer  drains the client's queue and is the only writer to the socket
//	will       publishes a will left by a connection that ended abnormally
//
// and takes the role back when the client is gone. A worker inherits one
// descriptor after stdin, stdout and stderr:
//
//	fd 3  its end of the control channel, a SOCK_SEQPACKET socket whose other
//	      end the supervisor holds; EOF there means the supervisor died
//
// Everything a client needs — its TCP socket, its POSIX queue, the worker's
// end of the pair channel (a SOCK_SEQPACKET socket pair between the client's
// router and deliverer) — arrives with the message that hands the client
// over (control.Hand), as SCM_RIGHTS descriptors, and is closed when the
// client is gone.
package spawn
