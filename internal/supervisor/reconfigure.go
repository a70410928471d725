package supervisor

import (
	"github.com/forkmq/forkmq/internal/options"
)

// Reconfigure hands the main loop what a SIGHUP re-read from the
// configuration file and can change while clients are connected
// (brokerconf.Live). It returns once the loop has taken it.
func (s *Supervisor) Reconfigure(o options.Options) { s.reconf <- o }

// reconfigure applies new live options in the main loop: every worker is
// told them (control.Reload), so that idle pool workers serve their next
// clients with them and connected routers load access files named anew
// (or re-read the same ones); the $SYS worker takes the new interval, and
// is started if $SYS was off. Files that do not load change nothing, as at
// start.
func (s *Supervisor) reconfigure(o options.Options) {
	if err := loadAccessFiles(o); err != nil {
		s.log.Error().Err(err).Msg("SIGHUP: access files not loaded; keeping the previous ones")
		return
	}
	s.cfg.PasswordFile, s.cfg.ACLFile, s.cfg.AllowAnon = o.PasswordFile, o.ACLFile, o.AllowAnon
	s.cfg.SysInterval = o.SysInterval
	s.reload()
	s.startSys()
}
