package listener

import (
	"time"

	"github.com/forkmq/forkmq/internal/options"
)

// ConfigOf is the configuration of one of the options' listeners (flags or
// a listener block of the file), for either engine; handshake bounds its
// handshakes (the broker's -connect-wait).
func ConfigOf(l options.Listener, handshake time.Duration) Config {
	c := Config{Addr: l.Addr, Protocol: MQTT, Proxy: l.Proxy, HandshakeTimeout: handshake}
	if l.WebSockets {
		c.Protocol = WebSockets
	}
	if l.TLS {
		c.TLS = &TLS{CertFile: l.CertFile, KeyFile: l.KeyFile, CAFile: l.CAFile, RequireCert: l.RequireCert,
			IdentityAsUsername: l.IdentityAsUsername, MinVersion: l.TLSVersion}
	}
	return c
}
