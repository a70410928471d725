// Package spawn is the contract between the supervisor and the worker
// processes it starts: which descriptors a worker inherits and at which
// numbers, which arguments it receives, and what its exit code means.
//
// Both sides import this file, so the two can never disagree. A worker is the
// same binary in one of two roles:
//
//	router     reads the client's packets, answers them and routes PUBLISH
//	deliverer  drains the client's queue and is the only writer to the socket
//	will       publishes a will left by a connection that ended abnormally
//
// A router or deliverer inherits four descriptors after stdin, stdout and
// stderr (a will worker only the lifeline):
//
//	fd 3  the client's TCP socket
//	fd 4  the read end of the lifeline pipe; EOF there means the supervisor died
//	fd 5  the client's POSIX message queue (opened read-write by the supervisor)
//	fd 6  the pair channel: one end of a SOCK_SEQPACKET socket pair whose
//	      other end the partner holds; the router sends its deliverer what
//	      is for its own client alone (replies, acknowledgements) there
package spawn
