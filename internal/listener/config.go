package listener

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"
)

// Protocol is what a listener speaks over its transport.
type Protocol string

// The protocols, with mosquitto's names for its protocol key.
const (
	MQTT       Protocol = "mqtt"       // MQTT straight over TCP (or TLS)
	WebSockets Protocol = "websockets" // MQTT in binary WebSocket messages (RFC 6455, subprotocol mqtt)
)

// Config is one listener.
type Config struct {
	Addr     string   // host:port for net.Listen
	Protocol Protocol // "" is MQTT
	TLS      *TLS     // nil: no TLS
	// Proxy is the PROXY protocol version every connection must start
	// with (1 or 2), 0 for none: the header's source address is then the
	// connection's remote address.
	Proxy int
	// HandshakeTimeout bounds the PROXY header, TLS and WebSocket
	// handshakes together.
	HandshakeTimeout time.Duration
}

// TLS is a listener's TLS settings, with mosquitto's keys' meanings.
type TLS struct {
	CertFile, KeyFile string // certfile, keyfile: the server's certificate chain and key (PEM)
	CAFile            string // cafile: the CAs client certificates are verified against
	// RequireCert (require_certificate) refuses a client without a
	// certificate signed by CAFile.
	RequireCert bool
	// IdentityAsUsername (use_identity_as_username) makes the client
	// certificate's subject common name the client's user name.
	IdentityAsUsername bool
	MinVersion         string // tls_version: "tlsv1.2" (default) or "tlsv1.3"
}

// Scheme names the kind of listener as a URL scheme: mqtt, mqtts, ws, wss.
func (c Config) Scheme() string {
	s := "mqtt"
	if c.Protocol == WebSockets {
		s = "ws"
	}
	if c.TLS != nil {
		s += "s"
	}
	return s
}

// Validate reports a configuration the listener cannot open.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("no address"))
	}
	if c.Protocol != "" && c.Protocol != MQTT && c.Protocol != WebSockets {
		errs = append(errs, fmt.Errorf("protocol %q: want mqtt or websockets", c.Protocol))
	}
	if c.Proxy < 0 || c.Proxy > 2 {
		errs = append(errs, fmt.Errorf("PROXY protocol version %d: want 1 or 2 (0: none)", c.Proxy))
	}
	if t := c.TLS; t != nil {
		if t.CertFile == "" || t.KeyFile == "" {
			errs = append(errs, errors.New("TLS needs both certfile and keyfile"))
		}
		if t.RequireCert && t.CAFile == "" {
			errs = append(errs, errors.New("require_certificate needs a cafile to verify client certificates against"))
		}
		if t.IdentityAsUsername && !t.RequireCert {
			errs = append(errs, errors.New("use_identity_as_username needs require_certificate true: the identity is the client certificate's"))
		}
		if _, err := tlsVersion(t.MinVersion); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("listener %s %s: %w", c.Scheme(), c.Addr, err)
	}
	return nil
}

func tlsVersion(s string) (uint16, error) {
	switch s {
	case "", "tlsv1.2":
		return tls.VersionTLS12, nil
	case "tlsv1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("tls_version %q: want tlsv1.2 or tlsv1.3", s)
}

// load reads the files of t into a server configuration.
func (t *TLS) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("certfile %s, keyfile %s: %w", t.CertFile, t.KeyFile, err)
	}
	v, err := tlsVersion(t.MinVersion)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: v}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cafile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cafile %s: no PEM certificate in it", t.CAFile)
		}
		cfg.ClientCAs = pool
	}
	if t.RequireCert {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
