package goengine

import (
	"fmt"

	"github.com/forkmq/forkmq/internal/listener"
	"github.com/forkmq/forkmq/internal/options"
)

// Reach (issue 14): the engine's listeners — plain, TLS, WebSocket, each
// optionally behind the PROXY protocol — opened by package listener. This
// engine terminates TLS and WebSocket sessions in-process: each session is
// pumped to a socketpair whose other end the client's router and deliverer
// use as they use a TCP socket (listener.Terminate), so its writes keep
// their slow-consumer deadlines without breaking the session.

// listenerConfig is what package listener takes for one of the options'
// listeners.
func listenerConfig(l options.Listener, o options.Options) listener.Config {
	c := listener.Config{Addr: l.Addr, Protocol: listener.MQTT, Proxy: l.Proxy, HandshakeTimeout: o.ConnectWait}
	if l.WebSockets {
		c.Protocol = listener.WebSockets
	}
	if l.TLS {
		c.TLS = &listener.TLS{CertFile: l.CertFile, KeyFile: l.KeyFile, CAFile: l.CAFile, RequireCert: l.RequireCert,
			IdentityAsUsername: l.IdentityAsUsername, MinVersion: l.TLSVersion}
	}
	return c
}

// openListeners binds every listener of the options; on an error none
// stays open.
func (e *Engine) openListeners() error {
	for _, l := range e.cfg.Endpoints() {
		ln, err := listener.Open(listenerConfig(l, e.cfg), e.log)
		if err != nil {
			e.closeListeners()
			return fmt.Errorf("%s: %w", l.Where, err)
		}
		e.lns = append(e.lns, ln)
	}
	return nil
}

func (e *Engine) closeListeners() {
	for _, ln := range e.lns {
		ln.Close()
	}
}

// serveListeners starts every listener's accept loop, logging each one
// open; the channel returned is closed when all have returned.
func (e *Engine) serveListeners() <-chan struct{} {
	done := make(chan struct{})
	left := make(chan struct{}, len(e.lns))
	for _, ln := range e.lns {
		cfg := ln.Config()
		e.log.Info().Str("listener", ln.Name()).Str("scheme", cfg.Scheme()).Str("addr", ln.Addr().String()).
			Int("proxy_protocol", cfg.Proxy).Msg("listener open")
		go func() {
			defer func() { left <- struct{}{} }()
			ln.Serve(e.accepted)
		}()
	}
	go func() {
		for range e.lns {
			<-left
		}
		close(done)
	}()
	return done
}

// accepted takes a connection whose handshakes are done: a session is
// terminated onto a socketpair first.
func (e *Engine) accepted(c *listener.Conn) {
	plain, err := listener.Terminate(c, func(err error) {
		if err != nil {
			e.log.Debug().Err(err).Str("remote", c.RemoteAddr().String()).Str("scheme", c.Scheme()).Msg("session ended")
		}
	})
	if err != nil {
		e.log.Warn().Err(err).Str("remote", c.RemoteAddr().String()).Msg("connection not terminated; closed")
		c.Close()
		return
	}
	e.admit(plain)
}

// reloadCertificates re-reads every TLS listener's certificate, key and CA
// (SIGHUP): new handshakes take them, connected clients keep their
// sessions. Files that do not load leave the previous ones in force.
func (e *Engine) reloadCertificates() {
	for _, ln := range e.lns {
		if ln.Config().TLS == nil {
			continue
		}
		if err := ln.Reload(); err != nil {
			e.log.Error().Err(err).Msg("SIGHUP: certificate not reloaded; keeping the previous one")
			continue
		}
		e.log.Info().Str("listener", ln.Name()).Msg("SIGHUP: certificate reloaded")
	}
}
