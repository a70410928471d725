package supervisor

import (
	"github.com/forkmq/forkmq/internal/auth"
	"github.com/forkmq/forkmq/internal/options"
)

// Reconfigure hands the main loop what a SIGHUP re-read from the
// configuration file and can change while clients are connected
// (brokerconf.Live). It returns once the loop has taken it.
func (s *Supervisor) Reconfigure(o options.Options) { s.reconf <- o }

// reconfigure applies new live options in the main loop: workers started
// from now on get them. A connected client's router keeps the access files
// it was started with (it re-reads their contents on SIGHUP); a new
// connection's router loads the ones named now. Files that do not load
// change nothing, as at start.
func (s *Supervisor) reconfigure(o options.Options) {
	if o.PasswordFile != "" || o.ACLFile != "" {
		if _, err := auth.Load(auth.Config{PasswordFile: o.PasswordFile, ACLFile: o.ACLFile, AllowAnonymous: o.AllowAnon}); err != nil {
			s.log.Error().Err(err).Msg("SIGHUP: access files not loaded; keeping the previous ones")
			return
		}
	}
	s.cfg.PasswordFile, s.cfg.ACLFile, s.cfg.AllowAnon = o.PasswordFile, o.ACLFile, o.AllowAnon
	if o.SysInterval != s.cfg.SysInterval {
		s.cfg.SysInterval = o.SysInterval
		s.restartSys()
	}
}
