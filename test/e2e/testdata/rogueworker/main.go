// Command rogueworker is a worker that breaks the control protocol, for
// TestControlOutOfState: it starts like a worker (Ready), and when the
// supervisor hands it a client it announces a persistent session
// (control.Adopt) before any claim of a client identifier — a message the
// table of package control allows no worker in that state. Built with
// -ldflags '-X main.says=PartnerIdle' it says instead, as the router, what
// only a deliverer may say (its router's end, control.PartnerIdle).
package main

import (
	"fmt"
	"os"

	"github.com/forkmq/forkmq/internal/control"
	"github.com/forkmq/forkmq/internal/spawn"
)

// says is what it says when handed a client: "Adopt" or "PartnerIdle".
var says = "Adopt"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rogueworker:", err)
		os.Exit(1)
	}
}

func run() error {
	ctl, err := control.Inherit(spawn.FdControl)
	if err != nil {
		return err
	}
	if err := ctl.Send(&control.Ready{}); err != nil {
		return err
	}
	for {
		m, err := ctl.Receive()
		if err != nil {
			return nil // the supervisor ended the channel
		}
		if _, ok := m.(*control.Hand); ok {
			var out control.Message = &control.Adopt{Session: "forkmq.00000000.s000000000000000000000000"}
			if says == "PartnerIdle" {
				out = &control.PartnerIdle{}
			}
			if err := ctl.Send(out); err != nil {
				return err
			}
		}
	}
}
