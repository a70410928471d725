package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSysTopics reads $SYS with Debian's mosquitto_sub: mosquitto's topic
// names, retained (a subscriber gets them at once), refreshed every
// sys_interval, counters that move with traffic, and the ACL applied to
// $SYS like to any topic (anonymous clients may read $SYS/broker/messages/#
// and $SYS/broker/clients/#, not $SYS/broker/uptime).
func TestSysTopics(t *testing.T) {
	for _, tool := range []string{"mosquitto_sub", "mosquitto_pub", "stdbuf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run scripts/install-deps.sh (%v)", tool, err)
		}
	}
	forEachEngine(t, func(t *testing.T, engine string) {
		acl := filepath.Join(t.TempDir(), "acl")
		if err := os.WriteFile(acl, []byte("topic read $SYS/broker/messages/#\ntopic read $SYS/broker/clients/#\ntopic read $SYS/broker/version\ntopic readwrite load/#\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		b := startBroker(t, withEngine(engine), withAccessArgs("-sys-interval", "1s", "-acl-file", acl))
		host, port, _ := strings.Cut(b.Addr, ":")
		conn := []string{"-h", host, "-p", port, "-V", "mqttv311"}
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()

		sub := exec.CommandContext(ctx, "stdbuf", append([]string{"-oL", "mosquitto_sub"}, append(slices.Clone(conn),
			"-i", newClientID("syssub"), "-v",
			"-t", "$SYS/broker/messages/received", "-t", "$SYS/broker/clients/connected",
			"-t", "$SYS/broker/version", "-t", "$SYS/broker/uptime")...)...)
		stdout, err := sub.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		sub.Stderr = &stderr
		if err := sub.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cancel()
			_ = sub.Wait()
		}()
		var mu sync.Mutex
		last := map[string]string{} // topic -> the last payload printed
		var seen []string
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				topic, payload, _ := strings.Cut(sc.Text(), " ")
				mu.Lock()
				last[topic] = payload
				seen = append(seen, topic)
				mu.Unlock()
			}
		}()
		value := func(topic string) (string, bool) {
			mu.Lock()
			defer mu.Unlock()
			v, ok := last[topic]
			return v, ok
		}
		number := func(topic string) int {
			v, _ := value(topic)
			n, _ := strconv.Atoi(v)
			return n
		}

		// Retained: the values arrive right after SUBACK, the version
		// with mosquitto's wording; the subscriber itself is connected.
		mustEventually(t, ioTimeout, func() error {
			if v, _ := value("$SYS/broker/version"); !strings.HasPrefix(v, "forkmq version ") {
				return fmt.Errorf("$SYS/broker/version is %q", v)
			}
			if n := number("$SYS/broker/clients/connected"); n < 1 {
				return fmt.Errorf("$SYS/broker/clients/connected is %d, want the subscriber counted", n)
			}
			if _, ok := value("$SYS/broker/messages/received"); !ok {
				return fmt.Errorf("no $SYS/broker/messages/received yet")
			}
			return nil
		})
		before := number("$SYS/broker/messages/received")

		// Traffic: 20 PUBLISH packets; the count moves by at least 20 at a
		// refresh (one a second).
		pub := exec.CommandContext(ctx, "mosquitto_pub", append(slices.Clone(conn), "-t", "load/x", "-l", "-q", "1")...)
		pub.Stdin = strings.NewReader(strings.Repeat("payload\n", 20))
		if out, err := pub.CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
		mustEventually(t, 15*time.Second, func() error {
			if n := number("$SYS/broker/messages/received"); n < before+20 {
				return fmt.Errorf("$SYS/broker/messages/received is %d, want at least %d+20", n, before)
			}
			return nil
		})

		// The ACL: uptime, which changes at every refresh, never arrives.
		mu.Lock()
		defer mu.Unlock()
		if slices.Contains(seen, "$SYS/broker/uptime") {
			t.Errorf("$SYS/broker/uptime reached a client the ACL does not let read it")
		}
	})
}
