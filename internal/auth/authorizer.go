package auth

// CONNACK return codes of MQTT 3.1.1 that Connect answers with
// [MQTT-3.2.2.3].
const (
	Accepted              byte = 0
	BadUsernameOrPassword byte = 4
	NotAuthorized         byte = 5
)

// Config names the files an Authorizer is built from. An empty path means
// no such file.
type Config struct {
	PasswordFile   string // mosquitto_passwd file; "" checks no passwords (see Connect)
	ACLFile        string // mosquitto acl_file; "" allows every topic
	AllowAnonymous bool   // accept clients that send no username
}

// Authorizer answers the broker's three questions: may this client connect,
// publish to this topic, subscribe to this filter. It is an immutable
// snapshot of its files; Reload builds a new one, so a caller swaps the
// pointer (for example on SIGHUP) and keeps the old one if loading fails.
type Authorizer struct {
	config    Config
	passwords *Passwords // nil: no password file
	acl       *ACL       // nil: no ACL file
}

// Load reads the files c names. An error names the file and, for a
// malformed file, the line (*ParseError).
func Load(c Config) (*Authorizer, error) {
	a := &Authorizer{config: c}
	var err error
	if c.PasswordFile != "" {
		if a.passwords, err = LoadPasswords(c.PasswordFile); err != nil {
			return nil, err
		}
	}
	if c.ACLFile != "" {
		if a.acl, err = LoadACL(c.ACLFile); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Reload reads the same files again into a new Authorizer; a is unchanged.
func (a *Authorizer) Reload() (*Authorizer, error) { return Load(a.config) }

// Config returns the configuration a was loaded from.
func (a *Authorizer) Config() Config { return a.config }

// Connect decides a CONNECT the way mosquitto 2 does, answering with the
// CONNACK return code to send:
//
//   - No username: Accepted if AllowAnonymous, else NotAuthorized.
//   - A username and no password file: Accepted if AllowAnonymous (the
//     username is kept for ACLs but not checked), else NotAuthorized, as
//     there is nothing to check it against.
//   - A username and a password file: Accepted if the password matches,
//     else BadUsernameOrPassword (also for an unknown user or a missing
//     password). mosquitto answers NotAuthorized here; the 3.1.1 code for
//     this case is 4, which is what clients report as a wrong password.
//
// A password without a username is the codec's to refuse
// [MQTT-3.1.2-22]; here it is ignored and the client is anonymous.
func (a *Authorizer) Connect(clientID, username string, hasUsername bool, password []byte, hasPassword bool) (ok bool, code byte) {
	switch {
	case !hasUsername || a.passwords == nil:
		if a.config.AllowAnonymous {
			return true, Accepted
		}
		return false, NotAuthorized
	case hasPassword && a.passwords.Check(username, password):
		return true, Accepted
	default:
		return false, BadUsernameOrPassword
	}
}

// CanPublish reports whether the client may PUBLISH to topic (a topic
// name). anonymous means the client connected without a username. Without
// an ACL file everything is allowed.
func (a *Authorizer) CanPublish(clientID, username string, anonymous bool, topic string) bool {
	return a.acl == nil || a.acl.Allowed(clientID, username, anonymous, Write, topic)
}

// CanSubscribe reports whether the client may SUBSCRIBE to filter; see
// ACL.Allowed for when a filter is covered. Called with a topic name it
// asks whether one message on that topic may be delivered. Without an ACL
// file everything is allowed.
func (a *Authorizer) CanSubscribe(clientID, username string, anonymous bool, filter string) bool {
	return a.acl == nil || a.acl.Allowed(clientID, username, anonymous, Read, filter)
}
