package spawn

import "fmt"

// ExitCode is a worker's exit status. Each names why the worker ended, so the
// supervisor can log it and decide how to treat the partner.
type ExitCode int

// Worker exit codes. The supervisor treats ExitOrderly specially: the router
// has asked the deliverer to flush and close, so the deliverer gets a grace
// period instead of an immediate stop.
const (
	ExitOrderly      ExitCode = 0  // the client disconnected or was refused cleanly
	ExitFailure      ExitCode = 1  // an unexpected error (logged by the worker)
	ExitUsage        ExitCode = 2  // bad arguments or descriptors from the supervisor
	ExitSocketClosed ExitCode = 10 // the client closed or reset the connection
	ExitProtocol     ExitCode = 11 // the client broke the protocol; connection closed
	ExitKeepAlive    ExitCode = 12 // the client was silent past 1.5× its keep-alive
	ExitConnectWait  ExitCode = 13 // no CONNECT arrived in time
	ExitParentGone   ExitCode = 14 // the control channel reached EOF: the supervisor died
	ExitStopped      ExitCode = 15 // control.Stop from the supervisor (or SIGTERM to a worker writing a CPU profile)
	ExitSlowConsumer ExitCode = 16 // the client's backlog of QoS 1/2 messages passed its bound
	ExitTakenOver    ExitCode = 17 // a newer connection claimed the client identifier [MQTT-3.1.4-2]
	ExitPartnerEnded ExitCode = 18 // the other worker of the pair ended the client abnormally
)

var exitNames = map[ExitCode]string{
	ExitOrderly:      "orderly",
	ExitFailure:      "failure",
	ExitUsage:        "usage",
	ExitSocketClosed: "socket closed",
	ExitProtocol:     "protocol error",
	ExitKeepAlive:    "keep-alive timeout",
	ExitConnectWait:  "connect timeout",
	ExitParentGone:   "supervisor gone",
	ExitStopped:      "stopped",
	ExitSlowConsumer: "slow consumer",
	ExitTakenOver:    "taken over",
	ExitPartnerEnded: "partner ended",
}

func (c ExitCode) String() string {
	if s, ok := exitNames[c]; ok {
		return s
	}
	return fmt.Sprintf("exit %d", int(c))
}
