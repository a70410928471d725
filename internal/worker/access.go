package worker

import (
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/auth"
	"github.com/forkmq/forkmq/internal/protocol"
	"github.com/forkmq/forkmq/internal/spawn"
)

// access holds the router's current authorizer; SIGHUP swaps in one built
// from the files as they are now, keeping the old one if they do not load.
type access struct {
	cur atomic.Pointer[auth.Authorizer]
}

// newAccess loads the access files named in args; nil when there are none
// and anonymous clients are allowed (then everything is allowed).
func newAccess(args spawn.Args, log zerolog.Logger) (*access, error) {
	if args.PasswordFile == "" && args.ACLFile == "" && args.AllowAnon {
		return nil, nil
	}
	a, err := auth.Load(auth.Config{PasswordFile: args.PasswordFile, ACLFile: args.ACLFile, AllowAnonymous: args.AllowAnon})
	if err != nil {
		return nil, err
	}
	ac := &access{}
	ac.cur.Store(a)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			next, err := ac.cur.Load().Reload()
			if err != nil {
				log.Error().Err(err).Msg("SIGHUP: access files not reloaded; keeping the previous ones")
				continue
			}
			ac.cur.Store(next)
			log.Debug().Msg("SIGHUP: access files reloaded")
		}
	}()
	return ac, nil
}

func (ac *access) current() protocol.Authorizer { return ac.cur.Load() }
