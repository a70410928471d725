// Command rogueworker is a worker that breaks the control protocol, for
// TestControlOutOfState: it starts like a worker (Ready), and when the
// supervisor hands it a client it announces a persistent session
// (control.Adopt) before any claim of a client identifier — a message the
// table of package control allows no worker in that state.
package main

import (
	"fmt"
	"os"

	"github.com/forkmq/forkmq/internal/control"
	"github.com/forkmq/forkmq/internal/spawn"
)

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
			if err := ctl.Send(&control.Adopt{Session: "forkmq.00000000.s000000000000000000000000"}); err != nil {
				return err
			}
		}
	}
}
