package mosqconf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxErrors is how many bad lines are reported before reading stops: enough
// to fix a file in one go, few enough that a binary file given by mistake
// does not flood the log.
const maxErrors = 20

// Parse reads a configuration file and the files its include_dir lines
// name. Every bad line is reported, each as an *Error naming file:line,
// joined (errors.As finds the first); the Config is returned only when
// there is none.
func Parse(path string) (*Config, error) {
	p := &parser{cfg: &Config{Path: path}}
	p.file(path, 0)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return p.cfg, nil
}

// parser is the state of one Parse: the blocks open, and what mosquitto's
// rules need to remember between lines.
type parser struct {
	cfg      *Config
	listener *Listener // the last listener line; nil before the first
	bridge   *Bridge   // the last connection line; nil before the first

	// securitySeen: a security key came, so per_listener_settings may no
	// longer be turned on (mosquitto refuses that too).
	securitySeen bool

	errs []error
}

func (p *parser) fail(err error) {
	if len(p.errs) == maxErrors {
		p.errs = append(p.errs, fmt.Errorf("more than %d errors; stopped reading", maxErrors))
	}
	if len(p.errs) <= maxErrors {
		p.errs = append(p.errs, err)
	}
}

func (p *parser) stopped() bool { return len(p.errs) > maxErrors }

// file reads one file; level 0 is the main file.
func (p *parser) file(path string, level int) {
	data, err := os.ReadFile(path)
	if err != nil {
		p.fail(fmt.Errorf("config file: %w", err))
		return
	}
	p.cfg.Files = append(p.cfg.Files, path)
	rest := string(data)
	for n := 1; rest != "" && !p.stopped(); n++ {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		p.line(Pos{File: path, Line: n}, line, level)
	}
}

// line reads one line.
func (p *parser) line(pos Pos, line string, level int) {
	line = strings.TrimRight(line, "\r")
	line = strings.TrimLeft(line, " \t")
	if line == "" || line[0] == '#' {
		return
	}
	if !utf8.ValidString(line) {
		p.fail(&Error{Pos: pos, Msg: "the line is not valid UTF-8"})
		return
	}
	name, value, _ := strings.Cut(line, " ")
	if i := strings.IndexByte(name, '\t'); i >= 0 {
		name, value = line[:i], line[i+1:]
	}
	value = strings.Trim(value, " \t")
	st := Setting{Name: name, Value: value, Pos: pos}

	spec, ok := Lookup(name)
	if !ok {
		p.fail(st.errorf("unknown key%s", suggest(name)))
		return
	}
	st.Key = spec.Key
	if spec.Supported {
		if err := spec.checkValue(value); err != nil {
			p.fail(st.wrap(err))
			return
		}
	}
	switch st.Key {
	case "include_dir":
		p.includeDir(st, level)
		return
	case "listener":
		p.startListener(st)
		return
	case "connection":
		p.startBridge(st)
		return
	case "per_listener_settings":
		p.perListener(st)
		return
	}
	sec := p.section(st, spec)
	if sec == nil {
		return
	}
	if !spec.Supported {
		p.cfg.Notices = append(p.cfg.Notices, Notice{Pos: pos, Key: name,
			Msg: fmt.Sprintf("%s is a mosquitto key forkmq does not support (%s); ignored", name, spec.Why)})
		return
	}
	// mosquitto refuses a string key given twice in one scope, and lets
	// the last of any other kind win.
	if spec.Kind == KindString && !spec.Repeat {
		if prev, dup := sec.Lookup(st.Key); dup {
			p.fail(st.errorf("given twice; first at %s", prev.Pos))
			return
		}
	}
	sec.add(st)
}

// section is where a key of this scope goes now, or nil (with an error)
// when it cannot go anywhere.
func (p *parser) section(st Setting, spec Spec) *Section {
	switch spec.Scope {
	case ScopeBridge:
		if p.bridge == nil {
			p.fail(st.errorf("a bridge key, and no connection line comes before it"))
			return nil
		}
		return &p.bridge.Section
	case ScopeListener:
		return p.listenerSection()
	case ScopeSecurity:
		p.securitySeen = true
		if p.cfg.PerListenerSettings {
			return p.listenerSection()
		}
	}
	return &p.cfg.Global
}

func (p *parser) listenerSection() *Section {
	if p.listener == nil {
		return &p.cfg.Default.Section
	}
	return &p.listener.Section
}

func (p *parser) startListener(st Setting) {
	port, addr, _ := parseListen(st.Value) // checked by the caller
	for _, l := range p.cfg.Listeners {
		if l.Addr == addr {
			p.fail(st.errorf("%s is already a listener, at %s", addr, l.Pos))
			return
		}
	}
	w := words(st.Value)
	l := &Listener{Port: port, Addr: addr, Pos: st.Pos}
	if len(w) == 2 {
		l.Address = w[1]
	}
	p.cfg.Listeners = append(p.cfg.Listeners, l)
	p.listener = l
}

func (p *parser) startBridge(st Setting) {
	w := words(st.Value)
	if len(w) != 1 {
		p.fail(st.errorf("want one NAME, found %q", st.Value))
		return
	}
	for _, b := range p.cfg.Bridges {
		if b.Name == w[0] {
			p.fail(st.errorf("a bridge named %q is already at %s", w[0], b.Pos))
			return
		}
	}
	b := &Bridge{Name: w[0], Pos: st.Pos}
	p.cfg.Bridges = append(p.cfg.Bridges, b)
	p.bridge = b
}

// perListener applies per_listener_settings as mosquitto does: once true
// it stays true, and it must come before any security key.
func (p *parser) perListener(st Setting) {
	on, _ := parseBool(st.Value) // checked by the caller
	switch {
	case p.cfg.PerListenerSettings:
	case on && p.securitySeen:
		p.fail(st.errorf("must come before any security key (password_file, acl_file, allow_anonymous …)"))
	default:
		p.cfg.PerListenerSettings = on
	}
}

// includeDir reads the .conf files of a directory, in mosquitto's order,
// from the main file only.
func (p *parser) includeDir(st Setting, level int) {
	if level > 0 {
		p.cfg.Notices = append(p.cfg.Notices, Notice{Pos: st.Pos, Key: st.Name,
			Msg: "include_dir is read in the main file only; ignored here (as mosquitto does)"})
		return
	}
	dir := st.Value
	entries, err := os.ReadDir(dir)
	if err != nil {
		p.fail(st.wrap(err))
		return
	}
	main, err := os.Stat(p.cfg.Path)
	if err != nil {
		p.fail(fmt.Errorf("config file: %w", err))
		return
	}
	var names []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".conf") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		info, err := os.Stat(path)
		if err != nil {
			p.fail(st.wrap(err))
			continue
		}
		if info.IsDir() {
			continue
		}
		if os.SameFile(info, main) {
			p.fail(st.errorf("%s holds the main config file %s, which would be read twice", dir, p.cfg.Path))
			return
		}
		names = append(names, e.Name())
	}
	slices.SortFunc(names, compareIncluded)
	for _, n := range names {
		if p.stopped() {
			return
		}
		p.file(filepath.Join(dir, n), level+1)
	}
}

// compareIncluded orders include_dir files as mosquitto does: byte by byte,
// except that two letters that differ only in case compare as the same
// letter, the upper case first (00.conf, A.conf, a.conf, B.conf, b.conf).
func compareIncluded(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		ux, uy := upper(x), upper(y)
		if ux == uy {
			if x == ux { // x is the upper case
				return -1
			}
			return 1
		}
		if ux < uy {
			return -1
		}
		return 1
	}
	return len(a) - len(b)
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// suggest names the table's key closest to an unknown one, when it is
// close enough to be a typo.
func suggest(name string) string {
	best, bestD := "", 3
	for key := range table {
		if d := editDistance(name, key); d < bestD || (d == bestD && key < best) {
			best, bestD = key, d
		}
	}
	if best == "" || bestD > 2 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Levenshtein distance between two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
