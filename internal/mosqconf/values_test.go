package mosqconf

import (
	"bufio"
	"compress/gzip"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestValueParsers(t *testing.T) {
	type result struct {
		v   any
		err bool
	}
	cases := []struct {
		name  string
		parse func(string) (any, error)
		in    string
		want  result
	}{
		{"bool true", boolAny, "true", result{true, false}},
		{"bool 1", boolAny, "1", result{true, false}},
		{"bool false", boolAny, "false", result{false, false}},
		{"bool 0 with comment", boolAny, "0 # off", result{false, false}},
		{"bool True", boolAny, "True", result{nil, true}}, // mosquitto compares exactly
		{"bool yes", boolAny, "yes", result{nil, true}},
		{"int", intAny, "42", result{int64(42), false}},
		{"int negative", intAny, "-1", result{int64(-1), false}},
		{"int with unit", intAny, "42s", result{nil, true}},
		{"duration seconds", durAny, "10", result{10 * time.Second, false}},
		{"duration go", durAny, "1m30s", result{90 * time.Second, false}},
		{"duration ms", durAny, "250ms", result{250 * time.Millisecond, false}},
		{"duration negative", durAny, "-1", result{nil, true}},
		{"duration word", durAny, "often", result{nil, true}},
		{"size bytes", sizeAny, "65536", result{int64(65536), false}},
		{"size KiB", sizeAny, "64KiB", result{int64(64 << 10), false}},
		{"size MiB", sizeAny, "16MiB", result{int64(16 << 20), false}},
		{"size GiB", sizeAny, "2GiB", result{int64(2 << 30), false}},
		{"size MB is ambiguous", sizeAny, "16MB", result{nil, true}},
		{"size overflow", sizeAny, "9999999999999GiB", result{nil, true}},
		{"float", floatAny, "2.5", result{2.5, false}},
		{"float negative", floatAny, "-2", result{nil, true}},
		{"listen port", listenAny, "1883", result{":1883", false}},
		{"listen address", listenAny, "1883 127.0.0.1", result{"127.0.0.1:1883", false}},
		{"listen ipv6", listenAny, "8883 ::", result{"[::]:8883", false}},
		{"listen bracketed ipv6", listenAny, "8883 [::1]", result{"[::1]:8883", false}},
		{"listen comment", listenAny, "1883 # the default", result{":1883", false}},
		{"listen three words", listenAny, "1883 a b", result{nil, true}},
		{"range", rangeAny, "10000-10099", result{[2]uint32{10000, 10099}, false}},
		{"range one", rangeAny, "10000", result{[2]uint32{10000, 10000}, false}},
		{"range reversed", rangeAny, "2-1", result{nil, true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := c.parse(c.in)
			if (err != nil) != c.want.err {
				t.Fatalf("parse(%q) error = %v, want error %v", c.in, err, c.want.err)
			}
			if err == nil && v != c.want.v {
				t.Errorf("parse(%q) = %v (%T), want %v (%T)", c.in, v, v, c.want.v, c.want.v)
			}
		})
	}
}

func boolAny(s string) (any, error)  { v, err := parseBool(s); return v, err }
func intAny(s string) (any, error)   { v, err := parseInt(s); return v, err }
func durAny(s string) (any, error)   { v, err := parseDuration(s); return v, err }
func sizeAny(s string) (any, error)  { v, err := parseSize(s); return v, err }
func floatAny(s string) (any, error) { v, err := parseFloat(s); return v, err }
func listenAny(s string) (any, error) {
	_, a, err := parseListen(s)
	return a, err
}
func rangeAny(s string) (any, error) {
	lo, hi, err := parseRange(s)
	return [2]uint32{lo, hi}, err
}

// TestGetterErrorsNamePosition: a getter of the wrong kind names the file
// and line of the value it cannot read.
func TestGetterErrorsNamePosition(t *testing.T) {
	cfg := mustParse(t, "\nuser mosquitto\n")
	_, err := cfg.Global.Bool("user", false)
	wantError(t, err, 2, "user", `"mosquitto" is not a boolean`)
	_, err = cfg.Global.Size("user", 0)
	wantError(t, err, 2, "not a size")
	if v, err := cfg.Global.Int("max_connections", 7); v != 7 || err != nil {
		t.Errorf("an unset key gives the default: %d, %v", v, err)
	}
}

// TestForkmqKeys: forkmq's own keys, for what mosquitto has no word for.
func TestForkmqKeys(t *testing.T) {
	cfg := mustParse(t, strings.Join([]string{
		"engine goroutine",
		"pool_size 8",
		"worker_max_clients 1000",
		"worker_uids 20000-20099",
		"admin_listener 9090 127.0.0.1",
		"queue_budget 400KiB",
		"stall_timeout 2s",
		"max_accept_rate 250.5",
		"log_level debug",
	}, "\n"))
	g := &cfg.Global
	if e, _ := g.Word("engine", "process"); e != "goroutine" {
		t.Errorf("engine = %q", e)
	}
	if n, _ := g.Int("pool_size", 0); n != 8 {
		t.Errorf("pool_size = %d", n)
	}
	if lo, hi, ok, err := g.Range("worker_uids"); !ok || err != nil || lo != 20000 || hi != 20099 {
		t.Errorf("worker_uids = %d-%d %v %v", lo, hi, ok, err)
	}
	if a, _ := g.Listen("admin_listener", ""); a != "127.0.0.1:9090" {
		t.Errorf("admin_listener = %q", a)
	}
	if n, _ := g.Size("queue_budget", 0); n != 400<<10 {
		t.Errorf("queue_budget = %d", n)
	}
	if d, _ := g.Duration("stall_timeout", 0); d != 2*time.Second {
		t.Errorf("stall_timeout = %v", d)
	}
	if f, _ := g.Float("max_accept_rate", 0); f != 250.5 {
		t.Errorf("max_accept_rate = %v", f)
	}
	if _, _, ok, _ := (&Section{}).Range("worker_uids"); ok {
		t.Error("an unset range must say so")
	}
}

// exampleConf is the annotated example file of Debian's mosquitto package
// (installed by scripts/install-deps.sh): every option mosquitto 2.0
// documents, commented out.
const exampleConf = "/usr/share/doc/mosquitto/examples/mosquitto.conf"

// TestMosquittoExampleKeys: every key of mosquitto's own example file is
// in the table, and the file as shipped (everything commented out) reads
// as empty.
func TestMosquittoExampleKeys(t *testing.T) {
	data := readExample(t)
	keyLine := regexp.MustCompile(`^#([a-z][a-z0-9_.]*[a-z0-9])( |$)`)
	seen := 0
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		m := keyLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		seen++
		if _, ok := Lookup(m[1]); !ok {
			t.Errorf("mosquitto's example has %q, which the table lacks", m[1])
		}
	}
	if seen < 50 {
		t.Errorf("found %d keys in %s, expected the whole list", seen, exampleConf)
	}
	cfg := mustParse(t, data)
	if len(cfg.Global.Settings()) != 0 || len(cfg.Notices) != 0 || len(cfg.Listeners) != 0 {
		t.Errorf("the commented-out example must read as empty: %+v", cfg)
	}
}

func readExample(t *testing.T) string {
	t.Helper()
	for _, path := range []string{exampleConf, exampleConf + ".gz"} {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		defer f.Close()
		var r io.Reader = f
		if strings.HasSuffix(path, ".gz") {
			gz, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			r = gz
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	t.Skipf("%s not found: install Debian's mosquitto (scripts/install-deps.sh)", exampleConf)
	return ""
}

// TestTable: the table's own consistency.
func TestTable(t *testing.T) {
	for _, s := range Specs() {
		if s.Supported == (s.Why != "") {
			t.Errorf("%s: a supported key has no Why, an unsupported one must have one", s.Key)
		}
		if s.Kind == KindEnum && len(s.Enum) == 0 {
			t.Errorf("%s: an enumeration without values", s.Key)
		}
		if s.Kind == KindWords && s.check == nil {
			t.Errorf("%s: several words without a rule", s.Key)
		}
	}
	for alias, key := range aliases {
		if _, ok := table[key]; !ok {
			t.Errorf("alias %s names %s, which is not in the table", alias, key)
		}
	}
	// The keys issue 13 names must be supported.
	for _, k := range []string{"listener", "allow_anonymous", "password_file", "acl_file", "max_connections",
		"max_inflight_messages", "max_queued_messages", "max_queued_bytes", "message_size_limit",
		"persistence_location", "sys_interval", "user"} {
		if s, ok := Lookup(k); !ok || !s.Supported {
			t.Errorf("%s must be supported (issue 13)", k)
		}
	}
}
