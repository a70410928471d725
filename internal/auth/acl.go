package auth

import (
	"fmt"
	"os"
	"strings"

	"github.com/forkmq/forkmq/internal/topic"
)

// Access is what a client wants to do with a topic.
type Access int

const (
	// Read is receiving messages: the check made on each SUBSCRIBE filter.
	Read Access = 1 << iota
	// Write is sending messages: the check made on each PUBLISH topic name.
	Write
)

func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case Read | Write:
		return "readwrite"
	case 0:
		return "deny"
	}
	return fmt.Sprintf("Access(%d)", int(a))
}

// rule is one "topic" or "pattern" line. access is 0 for "deny".
type rule struct {
	access Access
	levels []string // the topic split at '/'
	// subst marks the levels that hold %c or %u (pattern rules only);
	// usesC and usesU say whether any level holds each.
	subst        []bool
	usesC, usesU bool
}

// ruleSet is one section of the file: the rules for anonymous clients, for
// one user, or the patterns for everyone.
type ruleSet []rule

// ACL is a parsed mosquitto acl_file. It is never modified after parsing,
// so any number of goroutines may call Allowed at once.
type ACL struct {
	anonymous ruleSet            // "topic" lines before the first "user" line
	users     map[string]ruleSet // "topic" lines after "user <name>"
	patterns  ruleSet            // "pattern" lines, wherever they stand
}

// LoadACL reads an ACL file in mosquitto's acl_file syntax:
//
//	# comment
//	topic [read|write|readwrite|deny] <topic>     rule for the current section
//	user <username>                               starts the section of username
//	pattern [read|write|readwrite|deny] <topic>   rule for every client; %c and %u
//	                                              stand for client id and username
//
// "topic" lines before the first "user" line apply to anonymous clients.
// The access word may be left out and means readwrite. The topic is the
// rest of the line and may hold the wildcards '+' and '#'. Unlike mosquitto,
// an unknown keyword is an error rather than a silently ignored line, so a
// mistyped "user" cannot hand one user's rules to another.
func LoadACL(path string) (*ACL, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("acl file: %w", err)
	}
	return parseACL(path, data)
}

func parseACL(path string, data []byte) (*ACL, error) {
	a := &ACL{users: make(map[string]ruleSet)}
	var user string // current section; "" is the anonymous one
	inUser := false
	err := eachLine(path, data, func(n int, line string) error {
		keyword, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimLeft(rest, " ")
		switch keyword {
		case "user":
			if rest == "" {
				return &ParseError{Line: n, Msg: "user line without a username"}
			}
			user, inUser = rest, true
			return nil
		case "topic", "pattern":
		default:
			return &ParseError{Line: n, Msg: fmt.Sprintf("unknown keyword %q (want topic, pattern or user)", keyword)}
		}
		r, err := parseRule(keyword == "pattern", rest)
		if err != nil {
			return &ParseError{Line: n, Msg: err.Error()}
		}
		switch {
		case keyword == "pattern":
			a.patterns = append(a.patterns, r)
		case inUser:
			a.users[user] = append(a.users[user], r)
		default:
			a.anonymous = append(a.anonymous, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// parseRule parses what follows "topic" or "pattern": an optional access
// word and the topic, as mosquitto does: with one word, it is the topic;
// with more, the first is the access and the rest the topic.
func parseRule(pattern bool, s string) (rule, error) {
	var r rule
	if s == "" {
		return r, fmt.Errorf("missing topic")
	}
	word, t, more := strings.Cut(s, " ")
	if !more {
		word, t = "readwrite", s
	}
	t = strings.TrimLeft(t, " ")
	switch word {
	case "read":
		r.access = Read
	case "write":
		r.access = Write
	case "readwrite":
		r.access = Read | Write
	case "deny":
		r.access = 0
	default:
		return r, fmt.Errorf("unknown access %q (want read, write, readwrite or deny)", word)
	}
	if err := topic.ValidateFilter(t); err != nil {
		return r, fmt.Errorf("topic %q: %v", t, err)
	}
	r.levels = strings.Split(t, "/")
	if pattern {
		r.subst = make([]bool, len(r.levels))
		for i, l := range r.levels {
			c, u := strings.Contains(l, "%c"), strings.Contains(l, "%u")
			r.subst[i] = c || u
			r.usesC = r.usesC || c
			r.usesU = r.usesU || u
		}
	}
	return r, nil
}

// client is who is asking, as the rules see it.
type client struct {
	id, username string
	anonymous    bool
}

// safe reports whether s may stand in for %c or %u: a value holding '+',
// '#' or '/' would turn into wildcards or extra levels, and an empty one
// would give every such client one shared level.
func safe(s string) bool { return s != "" && !strings.ContainsAny(s, "+#/") }

// Allowed reports whether the client may do access on topicOrFilter. For
// Write it is the topic name of a PUBLISH; for Read the filter of a
// SUBSCRIBE (a topic name is a filter too, so Read on a name asks whether
// one message may be delivered).
//
// The decision, in order:
//   - A "deny" rule that applies to the client and could match any topic
//     the request covers refuses it: deny wins over every grant.
//   - A grant with the access asked for whose topic covers the whole
//     request allows it. A filter is covered when every topic it matches is
//     matched by the rule: "a/#" needs a rule "a/#" or "#", "a/+" is not
//     enough. Rules whose first level is a wildcard never cover topics that
//     start with '$', so "#" does not grant "$SYS/#" [MQTT-4.7.2-1].
//   - Nothing else is allowed.
//
// The rules that apply are the client's own section (anonymous clients:
// the lines before the first "user"; others: the section of their
// username, if any) and every pattern. Patterns with %u do not apply to
// anonymous clients. A client id or username that is empty or holds '+',
// '#' or '/' cannot widen access: grant patterns that would substitute it
// never match, and deny patterns that would substitute it refuse everything.
func (a *ACL) Allowed(clientID, username string, anonymous bool, access Access, topicOrFilter string) bool {
	if access != Read && access != Write {
		return false
	}
	if access == Write && strings.ContainsAny(topicOrFilter, "+#") {
		return false // a topic name never holds wildcards [MQTT-3.3.2-2]
	}
	req := strings.Split(topicOrFilter, "/")
	c := client{id: clientID, username: username, anonymous: anonymous}
	own := a.anonymous
	if !anonymous {
		own = a.users[username]
	}
	// Denies first, from both sets, then grants.
	for _, set := range [...]ruleSet{own, a.patterns} {
		for i := range set {
			r := &set[i]
			if r.access != 0 {
				continue
			}
			levels, ok, applies := r.instantiate(c)
			if !applies {
				continue
			}
			if !ok || overlaps(levels, r.subst, req) {
				return false
			}
		}
	}
	for _, set := range [...]ruleSet{own, a.patterns} {
		for i := range set {
			r := &set[i]
			if r.access&access == 0 {
				continue
			}
			levels, ok, applies := r.instantiate(c)
			if applies && ok && covers(levels, r.subst, req) {
				return true
			}
		}
	}
	return false
}

// instantiate returns the rule's levels with %c and %u replaced for c.
// applies is false for a %u rule and an anonymous client (it has no
// username to put there); ok is false when a value is not safe to
// substitute.
func (r *rule) instantiate(c client) (levels []string, ok, applies bool) {
	if !r.usesC && !r.usesU {
		return r.levels, true, true
	}
	if r.usesU && c.anonymous {
		return nil, false, false
	}
	if (r.usesC && !safe(c.id)) || (r.usesU && !safe(c.username)) {
		return nil, false, true
	}
	levels = make([]string, len(r.levels))
	for i, l := range r.levels {
		if r.subst[i] {
			l = substitute(l, c)
		}
		levels[i] = l
	}
	return levels, true, true
}

// substitute replaces %c and %u in one level, scanning left to right so
// that a value is never itself searched for another placeholder.
func substitute(level string, c client) string {
	var b strings.Builder
	for i := 0; i < len(level); i++ {
		if level[i] == '%' && i+1 < len(level) {
			switch level[i+1] {
			case 'c':
				b.WriteString(c.id)
				i++
				continue
			case 'u':
				b.WriteString(c.username)
				i++
				continue
			}
		}
		b.WriteByte(level[i])
	}
	return b.String()
}

// wild reports whether a level of a rule is a wildcard. A substituted level
// is always literal, even if the value came out as "+".
func wild(levels []string, subst []bool, i int) bool {
	return (levels[i] == "+" || levels[i] == "#") && (subst == nil || !subst[i])
}

// isWild reports whether a level of a request is a wildcard.
func isWild(level string) bool { return level == "+" || level == "#" }

// skipsDollar reports whether a first level that is (wildFirst) or is not a
// wildcard fails to meet the other side's first level because that one is
// a literal starting with '$': a filter starting with a wildcard does not
// match topics starting with '$' [MQTT-4.7.2-1].
func skipsDollar(wildFirst bool, other string, otherWild bool) bool {
	return wildFirst && !otherWild && strings.HasPrefix(other, "$")
}

// covers reports whether every topic name that request matches is matched
// by the rule. A request without wildcards is a topic name, and covers is
// then plain filter matching.
func covers(rule []string, subst []bool, req []string) bool {
	if skipsDollar(wild(rule, subst, 0), req[0], isWild(req[0])) {
		return false
	}
	for i := 0; ; i++ {
		switch {
		case i == len(rule):
			return i == len(req)
		case i == len(req):
			// "a/#" also matches "a".
			return i == len(rule)-1 && rule[i] == "#" && wild(rule, subst, i)
		}
		rw := wild(rule, subst, i)
		switch {
		case rw && rule[i] == "#":
			return true
		case req[i] == "#":
			return false // only a '#' in the rule covers a '#'
		case rw: // '+' covers one level: a literal or '+'
		case req[i] == "+":
			return false // a literal level covers one name, '+' many
		case rule[i] != req[i]:
			return false
		}
	}
}

// overlaps reports whether some topic name is matched by both the rule and
// the request.
func overlaps(rule []string, subst []bool, req []string) bool {
	rw0, qw0 := wild(rule, subst, 0), isWild(req[0])
	if skipsDollar(rw0, req[0], qw0) || skipsDollar(qw0, rule[0], rw0) {
		return false
	}
	for i := 0; ; i++ {
		switch {
		case i == len(rule) && i == len(req):
			return true
		case i == len(rule):
			return i == len(req)-1 && req[i] == "#"
		case i == len(req):
			return i == len(rule)-1 && rule[i] == "#" && wild(rule, subst, i)
		}
		rw, qw := wild(rule, subst, i), isWild(req[i])
		switch {
		case (rw && rule[i] == "#") || req[i] == "#":
			return true
		case rw || qw:
		case rule[i] != req[i]:
			return false
		}
	}
}
