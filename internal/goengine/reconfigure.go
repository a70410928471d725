package goengine

import (
	"github.com/forkmq/forkmq/internal/auth"
	"github.com/forkmq/forkmq/internal/options"
)

// Reconfigure applies what a SIGHUP re-read from the configuration file
// and can change while clients are connected (brokerconf.Live): the access
// rules, for every client at once (each router asks the engine's current
// authorizer at every decision). Files that do not load leave the previous
// rules in force.
func (e *Engine) Reconfigure(o options.Options) {
	if o.PasswordFile == "" && o.ACLFile == "" && o.AllowAnon {
		e.access.Store(nil)
		e.log.Info().Msg("SIGHUP: no access rules; every client may connect, publish and subscribe")
	} else {
		a, err := auth.Load(auth.Config{PasswordFile: o.PasswordFile, ACLFile: o.ACLFile, AllowAnonymous: o.AllowAnon})
		if err != nil {
			e.log.Error().Err(err).Msg("SIGHUP: access files not loaded; keeping the previous rules")
			return
		}
		e.access.Store(a)
	}
	e.setSysInterval(o.SysInterval)
}
