package mosqconf

import (
	"strings"
	"testing"
)

// FuzzLines feeds arbitrary lines to the parser: it must never panic, every
// refusal must be an *Error naming a line of the input, and whatever it
// accepts must read back through the getters of its kind without error.
func FuzzLines(f *testing.F) {
	for _, seed := range []string{
		"listener 1883\nallow_anonymous true\n",
		"connection c\naddress h:1 [::1]:2\ntopic # both 2 \"\" r/\nrestart_timeout 5 30\n",
		"per_listener_settings true\nlistener 1 ::\npassword_file /p\n",
		"max_queued_bytes 16MiB\nsys_interval 1m\nworker_uids 1-2 # c\n",
		"include_dir .\nmount_point x\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		lines := strings.Split(input, "\n")
		p := &parser{cfg: &Config{Path: "fuzz.conf"}}
		for i, line := range lines {
			if strings.HasPrefix(strings.TrimLeft(line, " \t"), "include_dir") {
				continue // reads the file system; covered by TestIncludeDir
			}
			p.line(Pos{File: "fuzz.conf", Line: i + 1}, line, 0)
		}
		for _, err := range p.errs {
			e, ok := err.(*Error)
			if !ok {
				if strings.HasPrefix(err.Error(), "more than") {
					continue
				}
				t.Fatalf("error %v is not an *Error", err)
			}
			if e.Pos.Line < 1 || e.Pos.Line > len(lines) {
				t.Fatalf("error %v names line %d of %d", err, e.Pos.Line, len(lines))
			}
		}
		sections := []*Section{&p.cfg.Global, &p.cfg.Default.Section}
		for _, l := range p.cfg.Listeners {
			sections = append(sections, &l.Section)
		}
		for _, b := range p.cfg.Bridges {
			sections = append(sections, &b.Section)
			if _, err := b.Topics(); err != nil {
				t.Fatalf("accepted topics do not read back: %v", err)
			}
			if _, err := b.Addresses(); err != nil {
				t.Fatalf("accepted addresses do not read back: %v", err)
			}
			if _, err := b.RestartTimeout(); err != nil {
				t.Fatalf("accepted restart_timeout does not read back: %v", err)
			}
		}
		for _, s := range sections {
			for _, st := range s.Settings() {
				if err := readBack(s, st); err != nil {
					t.Fatalf("accepted %s %q does not read back: %v", st.Key, st.Value, err)
				}
			}
		}
	})
}

// readBack reads a setting with the getter of its kind.
func readBack(s *Section, st Setting) error {
	spec, _ := Lookup(st.Key)
	var err error
	switch spec.Kind {
	case KindBool:
		_, err = s.Bool(st.Key, false)
	case KindInt:
		_, err = s.Int(st.Key, 0)
	case KindFloat:
		_, err = s.Float(st.Key, 0)
	case KindDuration:
		_, err = s.Duration(st.Key, 0)
	case KindSize:
		_, err = s.Size(st.Key, 0)
	case KindEnum:
		_, err = s.Word(st.Key, "")
	case KindListen:
		_, err = s.Listen(st.Key, "")
	case KindRange:
		_, _, _, err = s.Range(st.Key)
	}
	return err
}
