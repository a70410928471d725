package listener

import (
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/options"
)

// Set is every listener of a broker, the main one first: what both engines
// open, serve, reload and close alike.
type Set []*Listener

// OpenSet binds every listener of eps (options.Endpoints), each one's
// handshakes bounded by handshake; on an error none stays open.
func OpenSet(eps []options.Listener, handshake time.Duration, log zerolog.Logger) (Set, error) {
	var s Set
	for _, l := range eps {
		ln, err := Open(ConfigOf(l, handshake), log)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%s: %w", l.Where, err)
		}
		s = append(s, ln)
	}
	return s, nil
}

// Close stops every listener accepting.
func (s Set) Close() {
	for _, ln := range s {
		ln.Close()
	}
}

// Addrs is every listener's address, the main one first.
func (s Set) Addrs() []string {
	out := make([]string, len(s))
	for i, ln := range s {
		out[i] = ln.Addr().String()
	}
	return out
}

// Serve logs every listener open and serves them all (ServePlain) until
// they are closed: handle gets every connection as a socket, its
// handshakes done. It returns when every listener has returned.
func (s Set) Serve(log zerolog.Logger, handle func(*Conn)) {
	s.serve(log, handle, (*Listener).ServePlain)
}

// serve logs every listener open and serves each with serve until they
// are closed.
func (s Set) serve(log zerolog.Logger, handle func(*Conn), serve func(*Listener, func(*Conn))) {
	var wg sync.WaitGroup
	for _, ln := range s {
		cfg := ln.Config()
		log.Info().Str("listener", ln.Name()).Str("scheme", cfg.Scheme()).Str("addr", ln.Addr().String()).
			Int("proxy_protocol", cfg.Proxy).Msg("listener open")
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(ln, handle)
		}()
	}
	wg.Wait()
}

// Reload re-reads every TLS listener's certificate, key and CA (SIGHUP):
// new handshakes take them, connected clients keep their sessions. Files
// that do not load leave the previous ones in force, with a log line.
func (s Set) Reload(log zerolog.Logger) {
	for _, ln := range s {
		if ln.Config().TLS == nil {
			continue
		}
		if err := ln.Reload(); err != nil {
			log.Error().Err(err).Msg("SIGHUP: certificate not reloaded; keeping the previous one")
			continue
		}
		log.Info().Str("listener", ln.Name()).Msg("SIGHUP: certificate reloaded")
	}
}
