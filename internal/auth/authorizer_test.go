package auth

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

func TestConnect(t *testing.T) {
	pw := writeFile(t, "pw", mosquittoLine7+"\n")
	type creds struct {
		user        string
		hasUser     bool
		password    string
		hasPassword bool
	}
	var (
		anonymous = creds{}
		good      = creds{"user", true, "pass", true}
		bad       = creds{"user", true, "nope", true}
		noPass    = creds{"user", true, "", false}
		emptyPass = creds{"user", true, "", true}
		unknown   = creds{"zed", true, "pass", true}
		passOnly  = creds{"", false, "pass", true}
	)
	// The expectations for mosquitto's cases were observed with mosquitto
	// 2.0.11, except that it answers 5 where this package answers 4.
	for _, c := range []struct {
		name   string
		config Config
		creds  creds
		code   byte
	}{
		{"no file, anonymous allowed: anonymous", Config{AllowAnonymous: true}, anonymous, Accepted},
		{"no file, anonymous allowed: any username", Config{AllowAnonymous: true}, bad, Accepted},
		{"no file, anonymous allowed: username only", Config{AllowAnonymous: true}, noPass, Accepted},
		{"no file, anonymous refused: anonymous", Config{}, anonymous, NotAuthorized},
		{"no file, anonymous refused: username", Config{}, good, NotAuthorized},
		{"file, anonymous allowed: anonymous", Config{PasswordFile: pw, AllowAnonymous: true}, anonymous, Accepted},
		{"file, anonymous allowed: good", Config{PasswordFile: pw, AllowAnonymous: true}, good, Accepted},
		{"file, anonymous allowed: bad", Config{PasswordFile: pw, AllowAnonymous: true}, bad, BadUsernameOrPassword},
		{"file, anonymous allowed: unknown", Config{PasswordFile: pw, AllowAnonymous: true}, unknown, BadUsernameOrPassword},
		{"file, anonymous allowed: no password", Config{PasswordFile: pw, AllowAnonymous: true}, noPass, BadUsernameOrPassword},
		{"file, anonymous refused: anonymous", Config{PasswordFile: pw}, anonymous, NotAuthorized},
		{"file, anonymous refused: password only", Config{PasswordFile: pw}, passOnly, NotAuthorized},
		{"file, anonymous refused: good", Config{PasswordFile: pw}, good, Accepted},
		{"file, anonymous refused: bad", Config{PasswordFile: pw}, bad, BadUsernameOrPassword},
		{"file, anonymous refused: empty password", Config{PasswordFile: pw}, emptyPass, BadUsernameOrPassword},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := Load(c.config)
			if err != nil {
				t.Fatal(err)
			}
			ok, code := a.Connect("client", c.creds.user, c.creds.hasUser, []byte(c.creds.password), c.creds.hasPassword)
			if code != c.code || ok != (c.code == Accepted) {
				t.Errorf("Connect = %v, %d; want code %d", ok, code, c.code)
			}
		})
	}
}

func TestAuthorizerACL(t *testing.T) {
	open, err := Load(Config{AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	if !open.CanPublish("c", "", true, "$SYS/x") || !open.CanSubscribe("c", "u", false, "#") {
		t.Error("without an ACL file something was refused")
	}
	acl := writeFile(t, "acl", "topic read in/#\nuser u\ntopic write out/u\n")
	a, err := Load(Config{ACLFile: acl, AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		got, want bool
		what      string
	}{
		{a.CanSubscribe("c", "", true, "in/#"), true, "anonymous subscribe in/#"},
		{a.CanPublish("c", "", true, "in/x"), false, "anonymous publish in/x"},
		{a.CanPublish("c", "u", false, "out/u"), true, "u publish out/u"},
		{a.CanSubscribe("c", "u", false, "in/x"), false, "u subscribe in/x"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	bad := writeFile(t, "bad", "bob:hunter2\n")
	var pe *ParseError
	if _, err := Load(Config{PasswordFile: bad}); !errors.As(err, &pe) || pe.Line != 1 {
		t.Errorf("malformed password file: err = %v", err)
	}
	if _, err := Load(Config{ACLFile: bad}); !errors.As(err, &pe) || pe.Line != 1 {
		t.Errorf("malformed ACL file: err = %v", err)
	}
	if _, err := Load(Config{ACLFile: bad + ".missing"}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing ACL file: err = %v", err)
	}
}

// TestReload swaps snapshots while other goroutines use them, the way a
// broker reloads on SIGHUP; run it with -race. A failed reload leaves the
// old snapshot in place.
func TestReload(t *testing.T) {
	acl := writeFile(t, "acl", "topic read a\n")
	first, err := Load(Config{ACLFile: acl})
	if err != nil {
		t.Fatal(err)
	}
	var current atomic.Pointer[Authorizer]
	current.Store(first)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				a := current.Load()
				a.CanSubscribe("c", "", true, "a")
				a.CanPublish("c", "", true, "b")
			}
		})
	}
	if err := os.WriteFile(acl, []byte("topic read b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	next, err := current.Load().Reload()
	if err != nil {
		t.Fatal(err)
	}
	current.Store(next)
	if err := os.WriteFile(acl, []byte("topic bogus b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := current.Load().Reload(); err == nil {
		t.Error("reload of a malformed file: no error")
	}
	close(stop)
	wg.Wait()
	a := current.Load()
	if a.CanSubscribe("c", "", true, "a") || !a.CanSubscribe("c", "", true, "b") {
		t.Error("reloaded snapshot does not reflect the new file")
	}
	if !first.CanSubscribe("c", "", true, "a") {
		t.Error("the old snapshot changed")
	}
	if a.Config() != first.Config() {
		t.Error("Reload changed the configuration")
	}
}
