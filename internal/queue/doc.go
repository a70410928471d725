// Package queue wraps Linux POSIX message queues for forkmq.
//
// Every client of the broker owns one queue, named by the supervisor and
// drained by the client's deliverer; routers of other clients open it
// write-only to hand it messages. The package talks to the kernel through the
// raw mq_* system calls (there is no libc here), maps their errnos to the
// sentinel errors below, and integrates with Go's runtime poller so that a
// goroutine waiting on a queue parks instead of holding an OS thread.
//
// # Waiting
//
// On Linux a message-queue descriptor supports poll/epoll: it is readable
// while the queue holds a message and writable while it has room. Queues are
// opened with O_NONBLOCK and wrapped in an *os.File, which registers them
// with the runtime poller. Send and Receive first try the non-blocking system
// call; if it would block they wait through the File's syscall.RawConn, and
// deadlines are the File's read and write deadlines. Every call also passes
// an absolute timeout of zero, so it cannot block even if some other holder
// of the same open file description cleared O_NONBLOCK.
//
// Send calls on one Queue are serialized, and so are Receive calls: one
// waiter at a time holds the Queue and its deadline, the others queue up
// behind it. Give every goroutine its own Queue (OpenReader, OpenWriter)
// when several must wait with independent deadlines.
//
// # The budget
//
// Queue memory is pinned kernel memory, so the kernel charges every queue
// against the RLIMIT_MSGQUEUE of the user that created it, for as long as the
// queue exists (until it is unlinked and its last descriptor is closed). The
// charge, from mqueue_get_inode in ipc/mqueue.c (Linux 3.5 and later), is
//
//	maxmsg*msgsize                                 the message bytes
//	+ maxmsg*sizeof(struct msg_msg)                one header per message
//	+ min(maxmsg, MQ_PRIO_MAX)*sizeof(struct posix_msg_tree_node)
//
// MQ_PRIO_MAX is 32768 and both structures are six machine words, 48 bytes
// on 64-bit kernels, so a queue costs maxmsg*(msgsize+96) bytes whenever
// maxmsg is at most 32768. Cost computes this. A creation that would take the
// user's total above the soft RLIMIT_MSGQUEUE fails with EMFILE.
//
// With the common defaults (msg_max 10, msgsize_max 8192, RLIMIT_MSGQUEUE
// 819200) a largest queue costs 10*(8192+96) = 82880 bytes, so only nine of
// them fit; a broker with hundreds of clients must use small queues. Plan
// divides the budget, less a reserve of 1/32 for queues it does not know
// about, evenly between the number of queues asked for: it picks messages of
// at least minMsgSize and about 1 KiB, as many of them as fit up to msg_max,
// and grows the message size with what is left. For 100 queues on the
// defaults that is 7 messages of 1037 bytes (7*(1037+96) = 7931 bytes each).
//
// Besides the budget, fs.mqueue.queues_max bounds the number of queues in the
// IPC namespace (ENOSPC), and fs.mqueue.msg_max and fs.mqueue.msgsize_max
// bound the attributes of one queue (EINVAL); a process holding
// CAP_SYS_RESOURCE is exempt from all three sysctls but not from
// RLIMIT_MSGQUEUE. Errors caused by any of these limits are *LimitError
// values naming the limit and how to raise it; errors.Is(err, ErrLimit)
// matches them all.
//
// # Names
//
// Names are given without the leading slash that mq_open(3) wants (the
// system call itself takes the name without it). A name is non-empty, at
// most 255 bytes and contains no slash. Mount mounts the mqueue filesystem on
// a directory, where every queue of the IPC namespace appears as a file; List
// reads it, which lets tests prove that no queue leaked.
package queue
