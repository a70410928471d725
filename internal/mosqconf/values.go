package mosqconf

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// oneWord is the single token a Bool, Int, Enum… value holds. A "# comment"
// after it is allowed, as mosquitto reads only the first token; any other
// text after it is an error (mosquitto would silently drop it).
func oneWord(value string) (string, error) {
	fields := strings.Fields(value)
	switch {
	case len(fields) == 0:
		return "", errors.New("empty value")
	case len(fields) > 1 && !strings.HasPrefix(fields[1], "#"):
		return "", fmt.Errorf("want one value, found %q", value)
	}
	return fields[0], nil
}

// words splits a multi-word value, dropping a trailing "# comment".
func words(value string) []string {
	fields := strings.Fields(value)
	for i, f := range fields {
		if strings.HasPrefix(f, "#") {
			return fields[:i]
		}
	}
	return fields
}

// parseBool reads a boolean as mosquitto writes it (conf__parse_bool).
func parseBool(value string) (bool, error) {
	w, err := oneWord(value)
	if err != nil {
		return false, err
	}
	switch w {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean: want true, false, 1 or 0", w)
}

// parseInt reads a decimal integer. mosquitto's atoi takes "10s" as 10 and
// "ten" as 0; forkmq refuses both.
func parseInt(value string) (int64, error) {
	w, err := oneWord(value)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(w, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", w)
	}
	return n, nil
}

func parseFloat(value string) (float64, error) {
	w, err := oneWord(value)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(w, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, fmt.Errorf("%q is not a non-negative number", w)
	}
	return f, nil
}

// parseDuration reads whole seconds, mosquitto's unit for every interval,
// or a Go duration with its unit ("250ms", "1m30s").
func parseDuration(value string) (time.Duration, error) {
	w, err := oneWord(value)
	if err != nil {
		return 0, err
	}
	if n, err := strconv.ParseInt(w, 10, 64); err == nil {
		if n < 0 || n > math.MaxInt64/int64(time.Second) {
			return 0, fmt.Errorf("%q seconds is out of range", w)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(w)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration: want whole seconds (30) or a number with a unit (250ms, 1m30s)", w)
	}
	return d, nil
}

// sizeUnits are the suffixes a size may carry: binary multiples only, so
// that no one wonders whether "M" means 10^6 or 2^20.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}}

// parseSize reads bytes (mosquitto's unit) or a whole number of KiB, MiB or
// GiB.
func parseSize(value string) (int64, error) {
	w, err := oneWord(value)
	if err != nil {
		return 0, err
	}
	num, mult := w, int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(w, u.suffix) {
			num, mult = strings.TrimSuffix(w, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: want bytes (65536) or a whole number of KiB, MiB or GiB (64KiB)", w)
	}
	if n > math.MaxInt64/mult || n < math.MinInt64/mult {
		return 0, fmt.Errorf("%q is out of range", w)
	}
	return n * mult, nil
}

func parseEnum(value string, allowed []string) (string, error) {
	w, err := oneWord(value)
	if err != nil {
		return "", err
	}
	for _, a := range allowed {
		if w == a {
			return w, nil
		}
	}
	return "", fmt.Errorf("%q is not one of %s", w, strings.Join(allowed, ", "))
}

// parseListen reads "PORT [ADDRESS]" as a host:port for net.Listen. Port 0
// with a path is a Unix socket in mosquitto, which forkmq does not offer.
func parseListen(value string) (port int, addr string, err error) {
	f := words(value)
	switch {
	case len(f) == 0:
		return 0, "", errors.New("empty value: want PORT [ADDRESS]")
	case len(f) > 2:
		return 0, "", fmt.Errorf("want PORT [ADDRESS], found %q", value)
	}
	p, err := strconv.Atoi(f[0])
	if err != nil || p < 0 || p > 65535 {
		return 0, "", fmt.Errorf("port %q: want 1…65535", f[0])
	}
	if p == 0 {
		return 0, "", errors.New("port 0 with a path is a Unix socket listener, which forkmq does not offer")
	}
	host := ""
	if len(f) == 2 {
		host = f[1]
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
	}
	return p, net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// parseRange reads "FIRST-LAST" (or one number) as an inclusive range.
func parseRange(value string) (lo, hi uint32, err error) {
	w, err := oneWord(value)
	if err != nil {
		return 0, 0, err
	}
	a, b, found := strings.Cut(w, "-")
	if !found {
		b = a
	}
	x, err1 := strconv.ParseUint(a, 10, 32)
	y, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil || x > y {
		return 0, 0, fmt.Errorf("%q is not a range: want FIRST-LAST, FIRST ≤ LAST", w)
	}
	return uint32(x), uint32(y), nil
}

// check validates a value by its key's kind and bounds. The parser calls it
// for every supported key, so that a bad value stops the broker at start
// with the line to fix, not later when the value is first read.
func (s Spec) checkValue(value string) error {
	switch s.Kind {
	case KindString:
		if strings.TrimSpace(value) == "" {
			return errors.New("empty value")
		}
	case KindBool:
		_, err := parseBool(value)
		return err
	case KindInt:
		n, err := parseInt(value)
		if err != nil {
			return err
		}
		return s.inBounds(n, strconv.FormatInt(n, 10))
	case KindFloat:
		_, err := parseFloat(value)
		return err
	case KindDuration:
		d, err := parseDuration(value)
		if err != nil {
			return err
		}
		if s.Max > 0 && d > time.Duration(s.Max)*time.Second {
			return fmt.Errorf("%v is more than %ds", d, s.Max)
		}
	case KindSize:
		n, err := parseSize(value)
		if err != nil {
			return err
		}
		return s.inBounds(n, strings.TrimSpace(value))
	case KindEnum:
		_, err := parseEnum(value, s.Enum)
		return err
	case KindListen:
		_, _, err := parseListen(value)
		return err
	case KindRange:
		_, _, err := parseRange(value)
		return err
	case KindWords:
		if s.check != nil {
			return s.check(value)
		}
	}
	return nil
}

func (s Spec) inBounds(n int64, shown string) error {
	if (s.Min != 0 || s.Max != 0) && (n < s.Min || n > s.Max) {
		return fmt.Errorf("%s is out of range: want %d…%d", shown, s.Min, s.Max)
	}
	return nil
}
