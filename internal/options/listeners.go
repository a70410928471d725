package options

import (
	"errors"
	"fmt"
)

// Listener is one listener the broker opens: its address and what it
// speaks there. Package listener opens it.
type Listener struct {
	Addr       string
	WebSockets bool // MQTT over WebSocket (ws, or wss with TLS)
	TLS        bool
	// TLS settings, with mosquitto's keys' meanings.
	CertFile, KeyFile, CAFile string
	RequireCert               bool   // require_certificate
	IdentityAsUsername        bool   // use_identity_as_username
	TLSVersion                string // tls_version: tlsv1.2 (default) or tlsv1.3
	// Proxy is the PROXY protocol version its connections start with, 0
	// for none.
	Proxy int
	// Where is where it was configured ("-tls-listen :8883", "listener
	// 8883 at file:line"), for messages.
	Where string
}

// listenerFlags are the flags of the listeners: the process engine's
// supervisor opens them all, terminates their sessions and hands the
// workers plain sockets, so no worker takes them.
var listenerFlags = map[string]bool{
	"tls-listen": true, "ws-listen": true, "wss-listen": true, "certfile": true, "keyfile": true, "cafile": true,
	"require-certificate": true, "use-identity-as-username": true, "tls-version": true, "proxy-protocol": true,
}

// Plain reports whether the listener is plain MQTT over TCP, with no
// PROXY header.
func (l Listener) Plain() bool { return !l.WebSockets && !l.TLS && l.Proxy == 0 }

// Scheme names the listener's kind as a URL scheme: mqtt, mqtts, ws, wss.
func (l Listener) Scheme() string {
	s := "mqtt"
	if l.WebSockets {
		s = "ws"
	}
	if l.TLS {
		s += "s"
	}
	return s
}

// Endpoints is every listener the broker opens, the main one (-listen, or
// the file's first listener) first: the file's listeners, each with its
// settings, then those of -tls-listen, -ws-listen and -wss-listen, which
// take the TLS flags and -proxy-protocol.
func (o Options) Endpoints() []Listener {
	var out []Listener
	if len(o.Listeners) > 0 {
		out = append(out, o.Listeners...)
		out[0].Addr = o.Listen // -listen overrides the file's first listener
	} else {
		out = append(out, Listener{Addr: o.Listen, Proxy: o.ProxyProtocol, Where: "-listen " + o.Listen})
	}
	tls := func(l Listener) Listener {
		l.TLS, l.CertFile, l.KeyFile, l.CAFile = true, o.CertFile, o.KeyFile, o.CAFile
		l.RequireCert, l.IdentityAsUsername, l.TLSVersion = o.RequireCert, o.IdentityAsUsername, o.TLSVersion
		return l
	}
	if o.TLSListen != "" {
		out = append(out, tls(Listener{Addr: o.TLSListen, Proxy: o.ProxyProtocol, Where: "-tls-listen " + o.TLSListen}))
	}
	if o.WSListen != "" {
		out = append(out, Listener{Addr: o.WSListen, WebSockets: true, Proxy: o.ProxyProtocol, Where: "-ws-listen " + o.WSListen})
	}
	if o.WSSListen != "" {
		out = append(out, tls(Listener{Addr: o.WSSListen, WebSockets: true, Proxy: o.ProxyProtocol, Where: "-wss-listen " + o.WSSListen}))
	}
	return out
}

// validateListeners reports listener settings that cannot work: TLS flags
// with no TLS listener to take them, a TLS listener without a certificate.
func (o Options) validateListeners() []error {
	var errs []error
	if o.ProxyProtocol < 0 || o.ProxyProtocol > 2 {
		errs = append(errs, fmt.Errorf("-proxy-protocol %d: want 1 or 2 (0: none)", o.ProxyProtocol))
	}
	if o.TLSListen == "" && o.WSSListen == "" {
		for _, f := range []string{"certfile", "keyfile", "cafile", "require-certificate", "use-identity-as-username", "tls-version"} {
			if o.set[f] {
				errs = append(errs, fmt.Errorf("-%s: no -tls-listen or -wss-listen to apply it to", f))
			}
		}
	}
	eps := o.Endpoints()
	for _, l := range eps {
		if l.TLS && (l.CertFile == "" || l.KeyFile == "") {
			errs = append(errs, fmt.Errorf("%s: a TLS listener needs a certificate and key (-certfile, -keyfile; certfile, keyfile)", l.Where))
		}
	}
	return errs
}

var errNoListen = errors.New("-listen is required")
