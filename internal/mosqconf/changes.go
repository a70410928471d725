package mosqconf

import (
	"slices"
	"strconv"
	"strings"
)

// Change is a key whose value differs between two readings of a file, for
// a SIGHUP: Live changes can be applied at once, the others need a
// restart, which the caller says in its log.
type Change struct {
	Where    string // "global", "listener 1883", "listener 127.0.0.1:8883", "bridge NAME"
	Key      string
	Old, New string // the values; "" when not set ("…" joined for repeated keys)
	Pos      Pos    // the new line, or the old one when the key was removed
	Live     bool
}

// Changes lists what differs from old to new, in a stable order: global
// keys, then listeners, then bridges. A listener or bridge that appears or
// disappears is one Change (Key "listener" or "connection") needing a
// restart.
func Changes(old, new *Config) []Change {
	var out []Change
	if old.PerListenerSettings != new.PerListenerSettings {
		out = append(out, Change{Where: "global", Key: "per_listener_settings",
			Old: strconv.FormatBool(old.PerListenerSettings), New: strconv.FormatBool(new.PerListenerSettings)})
	}
	out = append(out, diffSections("global", &old.Global, &new.Global)...)
	out = append(out, diffSections("default listener", &old.Default.Section, &new.Default.Section)...)

	out = append(out, diffBlocks(old.Listeners, new.Listeners, "listener",
		func(l *Listener) (string, string, Pos, *Section) {
			return l.Addr, "listener " + l.Addr, l.Pos, &l.Section
		})...)
	out = append(out, diffBlocks(old.Bridges, new.Bridges, "connection",
		func(b *Bridge) (string, string, Pos, *Section) { return b.Name, "bridge " + b.Name, b.Pos, &b.Section })...)
	return out
}

// diffBlocks compares listeners or bridges, matched by their identity
// (address, name): a block on one side only is a change of its opening
// key; a block on both sides is compared key by key.
func diffBlocks[B any](old, new []B, opening string, describe func(B) (id, where string, pos Pos, sec *Section)) []Change {
	var out []Change
	before := make(map[string]B, len(old))
	for _, b := range old {
		id, _, _, _ := describe(b)
		before[id] = b
	}
	for _, b := range new {
		id, where, pos, sec := describe(b)
		o, ok := before[id]
		if !ok {
			out = append(out, Change{Where: where, Key: opening, New: id, Pos: pos})
			continue
		}
		delete(before, id)
		_, _, _, oldSec := describe(o)
		out = append(out, diffSections(where, oldSec, sec)...)
	}
	for _, b := range old {
		id, where, pos, _ := describe(b)
		if _, gone := before[id]; gone {
			out = append(out, Change{Where: where, Key: opening, Old: id, Pos: pos})
		}
	}
	return out
}

// diffSections compares two sections key by key.
func diffSections(where string, a, b *Section) []Change {
	var keys []string
	for _, s := range [...]*Section{a, b} {
		for _, st := range s.settings {
			if !slices.Contains(keys, st.Key) {
				keys = append(keys, st.Key)
			}
		}
	}
	slices.Sort(keys)
	var out []Change
	for _, k := range keys {
		ov, op := joined(a, k)
		nv, np := joined(b, k)
		if ov == nv {
			continue
		}
		spec, _ := Lookup(k)
		pos := np
		if pos.Line == 0 {
			pos = op
		}
		out = append(out, Change{Where: where, Key: k, Old: ov, New: nv, Pos: pos, Live: spec.Live})
	}
	return out
}

// joined is the value that counts for a key (every value, for a repeated
// one) and the position of its last line.
func joined(s *Section, key string) (string, Pos) {
	all := s.All(key)
	if len(all) == 0 {
		return "", Pos{}
	}
	if spec, _ := Lookup(key); !spec.Repeat {
		last := all[len(all)-1]
		return last.Value, last.Pos
	}
	vals := make([]string, len(all))
	for i, st := range all {
		vals[i] = st.Value
	}
	return strings.Join(vals, " … "), all[len(all)-1].Pos
}
