package worker

import (
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/scoreboard"
	"github.com/forkmq/forkmq/internal/spawn"
)

// attachSlot maps the broker's scoreboard and takes the slot the
// supervisor allocated for this worker (spawn.Args.Slot and SlotGen): the
// process keeps it for its life, whatever clients it serves, and counts
// what it does there (package scoreboard). A worker without a slot, or
// whose slot cannot be taken, counts nothing (a nil Writer) and says so:
// the broker serves all the same.
func attachSlot(args spawn.Args, log zerolog.Logger) *scoreboard.Writer {
	if args.SlotGen == 0 {
		return nil
	}
	ref := scoreboard.Ref{Index: args.Slot, Gen: args.SlotGen}
	w, err := scoreboard.Attach(filepath.Join(args.StateDir, scoreboard.FileName), ref)
	if err != nil {
		log.Warn().Err(err).Str("slot", ref.String()).Msg("scoreboard slot not taken: this worker counts nothing")
		return nil
	}
	return w
}
