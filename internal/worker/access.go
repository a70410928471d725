package worker

import (
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/auth"
	"github.com/forkmq/forkmq/internal/options"
	"github.com/forkmq/forkmq/internal/protocol"
)

// access holds the worker's current authorizer, loaded from the access
// files by the first router role and again on each control.Reload (the
// supervisor's SIGHUP); a file that does not load keeps the previous one.
// The authorizer is the broker's configuration, not a client's: what a
// client proved (its user name) is its protocol.Connection's, made anew
// for every client.
type access struct {
	cur atomic.Pointer[auth.Authorizer]
}

// loadAccess loads the access files named in the options, once; nil when
// there are none and anonymous clients are allowed (then everything is).
func (w *worker) loadAccess() (*access, error) {
	if w.access != nil || w.args.PasswordFile == "" && w.args.ACLFile == "" && w.args.AllowAnon {
		return w.access, nil
	}
	a, err := auth.Load(auth.Config{PasswordFile: w.args.PasswordFile, ACLFile: w.args.ACLFile, AllowAnonymous: w.args.AllowAnon})
	if err != nil {
		return nil, err
	}
	w.access = &access{}
	w.access.cur.Store(a)
	return w.access, nil
}

// replace loads the access files o names now (a SIGHUP renamed them, or
// changed allow_anonymous); if they do not load, the previous rules stay.
// With no files and anonymous clients allowed, everything is allowed.
func (ac *access) replace(o options.Options, log zerolog.Logger) {
	a, err := auth.Load(auth.Config{PasswordFile: o.PasswordFile, ACLFile: o.ACLFile, AllowAnonymous: o.AllowAnon})
	if err != nil {
		log.Error().Err(err).Msg("reload: access files not loaded; keeping the previous ones")
		return
	}
	ac.cur.Store(a)
	log.Debug().Msg("reload: access files loaded")
}

// reload re-reads the files.
func (ac *access) reload(log zerolog.Logger) {
	next, err := ac.cur.Load().Reload()
	if err != nil {
		log.Error().Err(err).Msg("reload: access files not reloaded; keeping the previous ones")
		return
	}
	ac.cur.Store(next)
	log.Debug().Msg("reload: access files reloaded")
}

func (ac *access) current() protocol.Authorizer { return ac.cur.Load() }
