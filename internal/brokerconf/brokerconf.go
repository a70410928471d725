package brokerconf

import (
	"flag"
	"fmt"
	"io"

	"github.com/forkmq/forkmq/internal/mosqconf"
	"github.com/forkmq/forkmq/internal/options"
)

// FileFlag is the flag that names the configuration file, as mosquitto's.
const FileFlag = "c"

// Loaded is a broker's configuration as read at start or on SIGHUP.
type Loaded struct {
	Options options.Options
	// File is the configuration file as read; nil without -c.
	File *mosqconf.Config
	// Notices are the file's lines read and ignored, for the broker to log
	// once each.
	Notices []mosqconf.Notice
}

// Parse reads the broker's command line: the defaults, then the file -c
// names (if any) over them, then every other flag given over the file.
// fs must be empty: Parse defines -c and every option's flag on it. An
// error from the file names file:line (a *mosqconf.Error).
func Parse(fs *flag.FlagSet, argv []string) (Loaded, error) {
	var l Loaded
	base := options.Default()
	if path := filePath(argv); path != "" {
		cfg, err := mosqconf.Parse(path)
		if err != nil {
			return Loaded{}, err
		}
		notices, err := Apply(cfg, &base)
		if err != nil {
			return Loaded{}, err
		}
		l.File, l.Notices = cfg, notices
	}
	fs.String(FileFlag, "", "configuration `file` in mosquitto's format (mosquitto.conf(5)); flags given override it; re-read on SIGHUP (see README)")
	o, err := options.ParseOver(fs, argv, base)
	if err != nil {
		return Loaded{}, err
	}
	l.Options = o
	return l, nil
}

// filePath finds -c in argv with every flag defined, so that flags with
// values are skipped correctly; parse errors are left to the real parse.
func filePath(argv []string) string {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	scratch := options.Default()
	scratch.Register(fs)
	path := fs.String(FileFlag, "", "")
	_ = fs.Parse(argv)
	return *path
}

// Reload reads the command line and its file again, for a SIGHUP, and
// sorts what changed from cur into what can be applied now and what needs a
// restart. settle fills in what the broker filled in at start (default
// paths), so that they do not count as changes.
func Reload(argv []string, cur Loaded, settle func(*options.Options) error) (Loaded, []Change, error) {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	next, err := Parse(fs, argv)
	if err == nil {
		err = settle(&next.Options)
	}
	if err != nil {
		return cur, nil, err
	}
	return next, changes(cur, next), nil
}

// Change is one option a SIGHUP found changed.
type Change struct {
	Flag     string       // the option's flag name
	Key      string       // the file's key, when the file says it
	Pos      mosqconf.Pos // the file's line, when the file says it
	Old, New string
	Live     bool // applied at once; otherwise it needs a restart
}

func (c Change) String() string {
	what := "-" + c.Flag
	if c.Key != "" {
		what = c.Key
	}
	if c.Pos.Line > 0 {
		what = c.Pos.String() + ": " + what
	}
	return fmt.Sprintf("%s: %q -> %q", what, c.Old, c.New)
}

// changes compares two readings option by option, naming the file's line
// for each option the file sets.
func changes(old, next Loaded) []Change {
	var out []Change
	for _, d := range options.Diff(old.Options, next.Options) {
		c := Change{Flag: d.Flag, Old: d.Old, New: d.New, Live: Live(d.Flag)}
		if m, ok := byFlag[d.Flag]; ok && next.File != nil {
			if st, ok := lookupAny(next.File, m.keys); ok {
				c.Key, c.Pos = st.Name, st.Pos
			}
		}
		out = append(out, c)
	}
	// A file's listeners have no flag: their transport keys (another
	// certfile path, a protocol) need a restart. (The files a TLS listener
	// names are re-read on every SIGHUP.)
	if a, b := fmt.Sprint(old.Options.Listeners), fmt.Sprint(next.Options.Listeners); a != b {
		c := Change{Flag: "listen", Key: "listener", Old: a, New: b}
		if next.File != nil && len(next.File.Listeners) > 0 {
			c.Pos = next.File.Listeners[0].Pos
		}
		out = append(out, c)
	}
	return out
}

// Live reports whether a running broker applies a change of the option
// with this flag name without a restart: whether a key that sets it is
// live in mosqconf's table (password_file, acl_file, allow_anonymous,
// sys_interval). Access rules change for every client at once in the
// goroutine engine, and for each new connection in the process engine (a
// connected client's router keeps the files it started with, and re-reads
// their contents); sys_interval takes effect at the next refresh.
func Live(flagName string) bool {
	for _, r := range rules {
		if spec, ok := mosqconf.Lookup(r.key); ok && r.flag == flagName && spec.Live {
			return true
		}
	}
	return false
}

// lookupAny finds the setting of the first of keys the file sets, in any
// section.
func lookupAny(cfg *mosqconf.Config, keys []string) (mosqconf.Setting, bool) {
	secs := []*mosqconf.Section{&cfg.Global, &cfg.Default.Section}
	for _, l := range cfg.Listeners {
		secs = append(secs, &l.Section)
	}
	for _, k := range keys {
		for _, s := range secs {
			if st, ok := s.Lookup(k); ok {
				return st, true
			}
		}
		if k == "listener" && len(cfg.Listeners) > 0 {
			l := cfg.Listeners[0]
			return mosqconf.Setting{Key: "listener", Name: "listener", Value: l.Addr, Pos: l.Pos}, true
		}
	}
	return mosqconf.Setting{}, false
}

// ApplyLive returns running with the live options (see Live) taken from
// next: what a SIGHUP applies at once. (TestApplyLive checks that these
// are the fields of Live's options.)
func ApplyLive(running, next options.Options) options.Options {
	running.PasswordFile, running.ACLFile, running.AllowAnon = next.PasswordFile, next.ACLFile, next.AllowAnon
	running.SysInterval = next.SysInterval
	return running
}
