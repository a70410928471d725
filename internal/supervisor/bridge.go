package supervisor

import (
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/admin"
	"github.com/forkmq/forkmq/internal/bridge"
	"github.com/forkmq/forkmq/internal/listener"
	"github.com/forkmq/forkmq/internal/mosqconf"
)

// Bridges (issue 14): each bridge of the file is a process of its own (the
// broker binary in its bridge role, bridge.ProcessMain) with the outbound
// connection to the remote broker, started with the broker and started
// again with the bridge's back-off (restart_timeout) whenever it ends. It
// reaches this broker as a local client: the supervisor makes a socketpair,
// gives the bridge process one end and admits the other like an accepted
// connection, so a worker pair serves it as any client (its remote address
// "bridge:NAME"). A SIGKILL of that pair ends the bridge's local
// connection, the bridge process ends with it and is started again, and
// its persistent session (bridge.LocalClientID) keeps what was queued.

// bridgeProc is one bridge's process, by its life.
type bridgeProc struct {
	cfg     bridge.Config
	program string // the binary run with bridge.ProcessArg

	// stats is the supervisor's end of the running process's stats
	// socket (bridge.ServeStats), nil while none runs or once it failed;
	// the admin listener's goroutines ask on it (Snapshot), under statsMu.
	statsMu sync.Mutex
	stats   net.Conn
	pid     int // 0 while none runs
	started time.Time
	delay   time.Duration // the wait before the next start after an end
	restart *time.Timer
}

// AddBridge adds a bridge, started by Run; call it before Run. program is
// the binary that runs a bridge process when its first argument is
// bridge.ProcessArg — the broker's own, not the worker's: the bridge links
// the Paho client, TLS and HTTP, which the worker binary leaves out so that
// the thousands of workers do not pay for them in memory (about 140 KiB of
// PSS each, measured with scripts/idlepss).
func (s *Supervisor) AddBridge(cfg bridge.Config, program string) {
	s.bridges = append(s.bridges, &bridgeProc{cfg: cfg, program: program, delay: cfg.Backoff.Base})
}

// bridgeAddr is a bridge's local connection's remote address.
type bridgeAddr string

func (a bridgeAddr) Network() string { return "bridge" }
func (a bridgeAddr) String() string  { return "bridge:" + string(a) }

// bridgeConn is the supervisor's end of a bridge's local connection.
type bridgeConn struct {
	*net.UnixConn
	name string
}

func (c bridgeConn) RemoteAddr() net.Addr { return bridgeAddr(c.name) }

// startBridges starts every bridge's process.
func (s *Supervisor) startBridges() {
	for _, b := range s.bridges {
		s.startBridge(b)
	}
}

// startBridge starts one bridge's process and admits its local connection;
// a failure is logged and tried again after the back-off.
func (s *Supervisor) startBridge(b *bridgeProc) {
	if s.stopping || b.pid != 0 {
		return
	}
	log := s.log.With().Str("bridge", b.cfg.Name).Logger()
	pid, local, stats, err := s.spawnBridge(b, log)
	if err != nil {
		log.Error().Err(err).Msg("bridge not started")
		s.restartBridgeLater(b)
		return
	}
	b.pid, b.started = pid, time.Now()
	b.setStats(stats)
	s.bridgePID[pid] = b
	log.Info().Int("pid", pid).Str("address", b.cfg.Addresses[0]).Msg("bridge process started")
	s.admit(bridgeConn{UnixConn: local, name: b.cfg.Name})
}

// spawnBridge starts b's process with its three descriptors: its local
// connection (3), its configuration (4, written here) and its stats
// socket (5). It returns our ends of the first and the last; on an error
// every descriptor it made is closed.
func (s *Supervisor) spawnBridge(b *bridgeProc, log zerolog.Logger) (pid int, local *net.UnixConn, stats net.Conn, err error) {
	var closers []io.Closer
	defer func() {
		if err != nil {
			for _, c := range closers {
				c.Close()
			}
		}
	}()
	local, localTheirs, err := listener.Socketpair()
	if err != nil {
		return 0, nil, nil, err
	}
	closers = append(closers, local)
	defer localTheirs.Close()
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return 0, nil, nil, err
	}
	defer cfgR.Close()
	defer cfgW.Close()
	stats, statsTheirs, err := listener.Socketpair()
	if err != nil {
		return 0, nil, nil, err
	}
	closers = append(closers, stats)
	defer statsTheirs.Close()
	pid, err = syscall.ForkExec(b.program, []string{"forkmq-bridge", bridge.ProcessArg}, &syscall.ProcAttr{
		Env:   s.workerEnv,
		Files: []uintptr{s.devNull.Fd(), s.devNull.Fd(), os.Stderr.Fd(), localTheirs.Fd(), cfgR.Fd(), statsTheirs.Fd()},
		Sys:   &syscall.SysProcAttr{Credential: s.pool.groups[0].credential()},
	})
	if err != nil {
		return 0, nil, nil, spawnLimit(err)
	}
	// A pipe holds 64 KiB: the configuration is written at once.
	if err := bridge.WriteConfig(cfgW, b.cfg); err != nil {
		log.Error().Err(err).Msg("bridge configuration not written; the bridge process ends")
	}
	return pid, local, stats, nil
}

// bridgeReaped notes that a bridge's process ended, and starts it again
// after the back-off (doubled at each quick end up to its cap, back to
// its base after a run longer than the cap).
func (s *Supervisor) bridgeReaped(b *bridgeProc, ws unix.WaitStatus) {
	delete(s.bridgePID, b.pid)
	ran := time.Since(b.started)
	ev := s.log.Error()
	if s.stopping {
		ev = s.log.Info()
	}
	ev.Str("bridge", b.cfg.Name).Int("pid", b.pid).Str("exit", exitText(ws)).Dur("ran", ran).Msg("bridge process ended")
	b.pid = 0
	b.setStats(nil)
	if s.stopping {
		return
	}
	if ran > max(b.cfg.Backoff.Cap, b.cfg.Backoff.Base) {
		b.delay = b.cfg.Backoff.Base
	}
	s.restartBridgeLater(b)
}

func (s *Supervisor) restartBridgeLater(b *bridgeProc) {
	if b.restart != nil {
		return
	}
	d := b.delay
	b.delay = nextDelay(b.cfg.Backoff, b.delay)
	b.restart = s.later(d, func() {
		b.restart = nil
		s.startBridge(b)
	})
}

// nextDelay is the wait after delay: doubled, up to the back-off's cap
// (its base when the cap is below it, as "restart_timeout 5" is constant).
func nextDelay(b mosqconf.Backoff, delay time.Duration) time.Duration {
	return min(2*delay, max(b.Cap, b.Base))
}

// stopBridges ends every bridge's process (SIGTERM) at shutdown.
func (s *Supervisor) stopBridges() {
	for _, b := range s.bridges {
		if b.restart != nil {
			b.restart.Stop()
			b.restart = nil
		}
		if b.pid != 0 {
			_ = syscall.Kill(b.pid, syscall.SIGTERM)
		}
	}
}

func exitText(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus())
}

// setStats replaces the stats socket (closing the old one).
func (b *bridgeProc) setStats(c net.Conn) {
	b.statsMu.Lock()
	defer b.statsMu.Unlock()
	if b.stats != nil {
		b.stats.Close()
	}
	b.stats = c
}

// askStats asks the running bridge process for its Stats. Without one, or
// when it does not answer by deadline, the bridge is reported not
// connected; a socket that failed is dropped (a late answer would be
// taken for the next question's) until the process is started again.
func (b *bridgeProc) askStats(deadline time.Time) admin.Bridge {
	row := admin.Bridge{Name: b.cfg.Name}
	b.statsMu.Lock()
	defer b.statsMu.Unlock()
	if b.stats == nil {
		return row
	}
	st, err := bridge.AskStats(b.stats, deadline)
	if err != nil {
		b.stats.Close()
		b.stats = nil
		return row
	}
	row.Connected, row.In, row.Out, row.Backlog = st.Connected, st.In, st.Out, st.Backlog
	return row
}
