package brokerconf

import (
	"fmt"

	"github.com/forkmq/forkmq/internal/mosqconf"
	"github.com/forkmq/forkmq/internal/options"
)

// tlsKeys are the listener keys that make, or configure, a TLS listener.
var tlsKeys = []string{"certfile", "keyfile", "cafile", "require_certificate", "use_identity_as_username", "tls_version"}

// listeners reads every listener of the file (mosquitto's default one
// when there is no listener line) with its transport keys: protocol,
// enable_proxy_protocol and the TLS keys. Which engine may serve them is
// the options' to say (options.Validate): the process engine serves one
// plain listener.
func listeners(cfg *mosqconf.Config, defaultAddr string) ([]options.Listener, error) {
	if len(cfg.Listeners) == 0 {
		l, err := transport(&cfg.Default.Section, defaultAddr, "the default listener")
		if err != nil || l.Plain() {
			return nil, err // the plain default listener is -listen's
		}
		return []options.Listener{l}, nil
	}
	var out []options.Listener
	for i, ml := range cfg.Listeners {
		if i > 0 {
			if err := onlyFirst(cfg, ml); err != nil {
				return nil, err
			}
		}
		l, err := transport(&ml.Section, ml.Addr, fmt.Sprintf("listener %d at %s", ml.Port, ml.Pos))
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// transport reads one listener's transport keys.
func transport(sec *mosqconf.Section, addr, where string) (options.Listener, error) {
	l := options.Listener{Addr: addr, Where: where}
	proto, err := sec.Word("protocol", "mqtt")
	if err != nil {
		return l, err
	}
	l.WebSockets = proto == "websockets"
	if l.Proxy, err = sec.Int("enable_proxy_protocol", 0); err != nil {
		return l, err
	}
	l.CertFile, l.KeyFile, l.CAFile = sec.String("certfile", ""), sec.String("keyfile", ""), sec.String("cafile", "")
	if l.RequireCert, err = sec.Bool("require_certificate", false); err != nil {
		return l, err
	}
	if l.IdentityAsUsername, err = sec.Bool("use_identity_as_username", false); err != nil {
		return l, err
	}
	if l.TLSVersion, err = sec.Word("tls_version", ""); err != nil {
		return l, err
	}
	// As in mosquitto, certfile and keyfile make a listener TLS; its other
	// TLS keys alone are a mistake, not a plain listener.
	l.TLS = l.CertFile != "" || l.KeyFile != ""
	for _, k := range tlsKeys {
		if st, ok := sec.Lookup(k); ok {
			if !l.TLS || l.CertFile == "" || l.KeyFile == "" {
				return l, &mosqconf.Error{Pos: st.Pos, Key: st.Name, Msg: "a TLS listener needs both certfile and keyfile"}
			}
		}
	}
	if st, ok := sec.Lookup("require_certificate"); ok && l.RequireCert && l.CAFile == "" {
		return l, &mosqconf.Error{Pos: st.Pos, Key: st.Name, Msg: "require_certificate needs a cafile to verify client certificates against"}
	}
	if st, ok := sec.Lookup("use_identity_as_username"); ok && l.IdentityAsUsername && !l.RequireCert {
		return l, &mosqconf.Error{Pos: st.Pos, Key: st.Name, Msg: "use_identity_as_username needs require_certificate true: the identity is the client certificate's"}
	}
	return l, nil
}

// onlyFirst refuses, on a listener after the first, the keys forkmq takes
// for the whole broker from the first one: max_connections and, with
// per_listener_settings, the security keys (one set of access rules
// serves every listener).
func onlyFirst(cfg *mosqconf.Config, l *mosqconf.Listener) error {
	for _, st := range l.Settings() {
		spec, _ := mosqconf.Lookup(st.Key)
		if st.Key == "max_connections" || (cfg.PerListenerSettings && spec.Scope == mosqconf.ScopeSecurity) {
			return &mosqconf.Error{Pos: st.Pos, Key: st.Name, Msg: fmt.Sprintf(
				"forkmq takes this key from the first listener (%s) for every listener: set it there", cfg.Listeners[0].Pos)}
		}
	}
	return nil
}
