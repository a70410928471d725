package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/bridge"
	"github.com/forkmq/forkmq/internal/spawn"
)

// runBridge is a bridge process: the supervisor starts the broker's own
// binary with bridge.ProcessArg, outside the pool, with the local
// connection's socket at descriptor 3, its configuration (JSON) to read
// at descriptor 4 and the supervisor's questions for its stats at
// descriptor 5 (bridge.ProcessMain). SIGTERM ends it.
func runBridge() spawn.ExitCode {
	log := zerolog.New(os.Stderr).With().Timestamp().Str("role", "bridge").Int("pid", os.Getpid()).Logger()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg := os.NewFile(4, "bridge configuration")
	defer cfg.Close()
	if err := bridge.ProcessMain(ctx, cfg, os.NewFile(3, "local connection"), os.NewFile(5, "stats"), log); err != nil {
		log.Error().Err(err).Msg("bridge process ends")
		return spawn.ExitFailure
	}
	return spawn.ExitOrderly
}
