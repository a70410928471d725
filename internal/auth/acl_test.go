package auth

import (
	"path/filepath"
	"strings"
	"testing"
)

// aclFile is the ACL that the table in TestACLAllowed checks.
const aclFile = `# Anonymous clients: these lines come before any "user" line.
topic read public/#
topic   write   public/inbox
topic deny public/private

user alice
topic readwrite alice/#
topic read sensors/+/temp
topic write  spaced topic/x
topic deny alice/secret

user bob
# no access word means readwrite
topic bob/#
topic read $SYS/broker/#

user admin
topic #
topic $SYS/#

user alice
topic read merged/#

pattern readwrite devices/%c/#
pattern read users/%u/inbox
pattern write out/%u/%c
pattern deny devices/%c/locked
pattern read pre-%c-post/x
`

func TestACLAllowed(t *testing.T) {
	a, err := LoadACL(writeFile(t, "acl", aclFile))
	if err != nil {
		t.Fatal(err)
	}
	const (
		r = Read
		w = Write
	)
	anon := func(id string) client { return client{id: id, anonymous: true} }
	user := func(id, name string) client { return client{id: id, username: name} }
	for _, c := range []struct {
		who    client
		access Access
		topic  string
		want   bool
	}{
		// Anonymous section.
		{anon("c1"), r, "public/news", true},
		{anon("c1"), r, "public/news/#", true},
		{anon("c1"), r, "public", true}, // "public/#" matches its parent
		{anon("c1"), r, "#", false},
		{anon("c1"), r, "+/news", false},
		{anon("c1"), w, "public/news", false},
		{anon("c1"), w, "public/inbox", true},
		{anon("c1"), r, "public/inbox", true},
		{anon("c1"), r, "public/private", false}, // deny wins
		{anon("c1"), w, "public/private", false},
		{anon("c1"), r, "public/+", false}, // would include public/private
		{anon("c1"), r, "public/#", false}, // would include public/private
		{anon("c1"), r, "alice/x", false},

		// A user's section; anonymous rules do not apply to users.
		{user("c2", "alice"), r, "alice/x", true},
		{user("c2", "alice"), w, "alice/x/y", true},
		{user("c2", "alice"), r, "alice/#", false}, // overlaps alice/secret
		{user("c2", "alice"), r, "alice/+/deep", true},
		{user("c2", "alice"), r, "alice/secret", false},
		{user("c2", "alice"), w, "alice/secret", false},
		{user("c2", "alice"), r, "public/news", false},
		{user("c2", "alice"), r, "sensors/kitchen/temp", true},
		{user("c2", "alice"), r, "sensors/+/temp", true},
		{user("c2", "alice"), r, "sensors/#", false},
		{user("c2", "alice"), r, "sensors/a/b/temp", false},
		{user("c2", "alice"), w, "sensors/kitchen/temp", false},
		{user("c2", "alice"), w, "spaced topic/x", true},
		{user("c2", "alice"), r, "merged/x", true}, // second "user alice" section
		{user("c2", "alice"), w, "alice/+", false}, // wildcards are never names
		{user("c2", "bob"), r, "alice/x", false},

		// Default readwrite; '$' topics.
		{user("c3", "bob"), w, "bob/x", true},
		{user("c3", "bob"), r, "bob/#", true},
		{user("c3", "bob"), r, "$SYS/broker/uptime", true},
		{user("c3", "bob"), r, "$SYS/broker/#", true},
		{user("c3", "bob"), r, "$SYS/#", false},
		{user("c3", "bob"), w, "$SYS/broker/uptime", false},
		{user("c4", "admin"), w, "anything/at/all", true},
		{user("c4", "admin"), r, "#", false}, // would include devices/c4/locked
		{user("c4", "admin"), r, "+/#", false},
		{user("c4", "admin"), r, "devices/+/locked", false},
		{user("c4", "admin"), r, "devices/+/state", true},
		{user("c4", "admin"), r, "$SYS/x", true}, // only through "topic $SYS/#"
		{user("c4", "admin"), r, "$other/x", false},
		{user("c4", "admin"), r, "+/x", true},

		// Patterns apply to everyone, anonymous or not, and any section.
		{anon("dev1"), w, "devices/dev1/state", true},
		{anon("dev1"), r, "devices/dev1/+", false}, // overlaps devices/dev1/locked
		{anon("dev1"), r, "devices/dev1/state/#", true},
		{anon("dev1"), w, "devices/dev1/locked", false},
		{anon("dev1"), w, "devices/dev2/state", false},
		{anon("dev1"), r, "devices/+/state", false},
		{user("dev1", "alice"), w, "devices/dev1/state", true},
		{user("dev1", "alice"), r, "devices/dev2/locked", false},
		{user("c5", "carol"), r, "users/carol/inbox", true},
		{user("c5", "carol"), r, "users/+/inbox", false},
		{user("c5", "carol"), w, "out/carol/c5", true},
		{user("c5", "carol"), w, "out/carol/c6", false},
		{anon("c5"), r, "users//inbox", false}, // %u never applies to anonymous
		{anon("c5"), r, "users/carol/inbox", false},
		{user("c6", ""), r, "users//inbox", false}, // empty username is unsafe
		{anon("x"), r, "pre-x-post/x", true},
		{anon("x"), r, "pre-y-post/x", false},

		// Substitutions that would widen access match nothing; deny
		// patterns with an unsafe value refuse everything.
		{anon("+"), r, "devices/+/state", false},
		{anon("+"), w, "public/inbox", false},
		{anon("#"), r, "devices/#", false},
		{anon("a/b"), w, "devices/a/b/x", false},
		{anon(""), w, "devices//x", false},
		{user("c7", "ev+il"), r, "users/ev+il/inbox", false},
		{user("c7", "ev/il"), r, "users/ev/il/inbox", false},
		{user("c7", "ev/il"), w, "out/ev/il/c7", false},
		{user("c7", "ev/il"), w, "devices/c7/x", true}, // %u unsafe, %c fine, no %u deny
		{user("c7", "bob#"), r, "bob/x", false},        // not bob's section either

		// Unknown access values are refused.
		{user("c4", "admin"), 0, "x", false},
		{user("c4", "admin"), 7, "x", false},
	} {
		got := a.Allowed(c.who.id, c.who.username, c.who.anonymous, c.access, c.topic)
		if got != c.want {
			t.Errorf("Allowed(id=%q user=%q anon=%v, %v, %q) = %v, want %v",
				c.who.id, c.who.username, c.who.anonymous, c.access, c.topic, got, c.want)
		}
	}
}

func TestACLMalformed(t *testing.T) {
	for _, c := range []struct {
		name, file string
		line       int
	}{
		{"unknown keyword", "topic a\nusr bob\ntopic b\n", 2},
		{"user without name", "user\n", 1},
		{"user with spaces only", "user   \n", 1},
		{"topic without topic", "# x\n\ntopic\n", 3},
		{"pattern without topic", "pattern   \n", 1},
		{"bad access", "topic readonly a/b\n", 1},
		{"space in topic without access", "topic a b\n", 1},
		{"hash not last", "topic read a/#/b\n", 1},
		{"plus inside level", "pattern read a/b+/c\n", 1},
		{"hash inside level", "topic read a#\n", 1},
		{"invalid utf8", "topic read a/\xff\n", 1},
		{"tab separated", "topic\tread a\n", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadACL(writeFile(t, "acl", c.file))
			wantParseError(t, err, c.line)
		})
	}
	if _, err := LoadACL(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestACLEmpty(t *testing.T) {
	// An ACL file with no rules allows nothing, as in mosquitto.
	a, err := LoadACL(writeFile(t, "acl", "# nothing yet\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Allowed("c", "u", false, Read, "a") || a.Allowed("c", "", true, Write, "a") {
		t.Error("empty ACL allowed something")
	}
}

func TestCoversOverlaps(t *testing.T) {
	split := func(s string) []string { return strings.Split(s, "/") }
	for _, c := range []struct {
		rule, req        string
		covers, overlaps bool
	}{
		{"a/b", "a/b", true, true},
		{"a/b", "a/c", false, false},
		{"a/+", "a/b", true, true},
		{"a/+", "a/+", true, true},
		{"a/+", "a/#", false, true},
		{"a/+", "a", false, false},
		{"a/#", "a", true, true},
		{"a/#", "a/b/c", true, true},
		{"a/#", "a/#", true, true},
		{"a/#", "#", false, true},
		{"a/b", "a/#", false, true},
		{"a/b", "a/+", false, true},
		{"a/b", "+/b", false, true},
		{"a", "a/#", false, true},
		{"a", "a/+", false, false},
		{"#", "#", true, true},
		{"#", "a/+/#", true, true},
		{"+/+", "a/b", true, true},
		{"+/+", "a/b/c", false, false},
		{"+/#", "a", true, true},
		{"a//b", "a/+/b", false, true},
		{"a//b", "a//b", true, true},
		{"#", "$SYS/x", false, false},
		{"+/x", "$SYS/x", false, false},
		{"$SYS/#", "#", false, false},
		{"$SYS/#", "+/x", false, false},
		{"$SYS/#", "$SYS/x/#", true, true},
		{"$SYS/+", "$SYS/#", false, true},
		{"#", "+", true, true},
	} {
		rule, req := split(c.rule), split(c.req)
		if got := covers(rule, nil, req); got != c.covers {
			t.Errorf("covers(%q, %q) = %v, want %v", c.rule, c.req, got, c.covers)
		}
		if got := overlaps(rule, nil, req); got != c.overlaps {
			t.Errorf("overlaps(%q, %q) = %v, want %v", c.rule, c.req, got, c.overlaps)
		}
	}
}
