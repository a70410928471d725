package worker

import (
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/scoreboard"
	"github.com/forkmq/forkmq/internal/spawn"
)

// attachSlot maps the broker's scoreboard and takes the slot the
// supervisor allocated for this worker (spawn.Args.Slot), where the worker
// counts what it does (package scoreboard). A worker without a slot, or
// whose slot cannot be taken, counts nothing (a nil Writer) and says so:
// the broker serves all the same.
func attachSlot(args spawn.Args, log zerolog.Logger) *scoreboard.Writer {
	if args.Slot == "" {
		return nil
	}
	ref, err := scoreboard.ParseRef(args.Slot)
	if err == nil {
		var w *scoreboard.Writer
		if w, err = scoreboard.Attach(filepath.Join(args.StateDir, scoreboard.FileName), ref); err == nil {
			return w
		}
	}
	log.Warn().Err(err).Str("slot", args.Slot).Msg("scoreboard slot not taken: this worker counts nothing")
	return nil
}
