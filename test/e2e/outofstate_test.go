package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// TestControlOutOfState: the supervisor checks every control message
// against the table of package control. Its workers here are rogues
// (testdata/rogueworker) that, handed a client, announce a session before
// claiming a client identifier, or say as the router what only a deliverer
// may say (its router's end, control.PartnerIdle): each is ended with an
// error line naming the message, the role and the state; the client's
// connection is closed, and nothing of it is left.
func TestControlOutOfState(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		requireProcessEngine(t, engine, "a control channel")
		for _, tc := range []struct {
			says  string
			roles []string // who may be ended for it
		}{
			{"Adopt", []string{"router", "deliverer"}},
			{"PartnerIdle", []string{"router"}},
		} {
			t.Run(tc.says, func(t *testing.T) {
				rogue := filepath.Join(t.TempDir(), "rogueworker")
				build := exec.Command(goTool(), "build", "-ldflags", "-X main.says="+tc.says, "-o", rogue, "./test/e2e/testdata/rogueworker")
				build.Dir = filepath.Join("..", "..")
				build.Env = append(os.Environ(), "CGO_ENABLED=0")
				if out, err := build.CombinedOutput(); err != nil {
					t.Fatalf("build the rogue worker: %v\n%s", err, out)
				}
				b := startBroker(t, withEngine(engine), withArgs("-worker", rogue, "-pool-min-spare", "1"))
				c := rawmqtt.Open(t, b.Addr)
				c.Send(t, rawmqtt.MQTT311(newClientID("rogue")).Bytes())
				c.ExpectClosed(t, ioTimeout)
				l := b.waitLog(t, ioTimeout, "control channel: message out of state; ending the worker", nil)
				if l.str("level") != "error" || l.str("control_message") != tc.says || l.str("state") != "assigned" ||
					!slices.Contains(tc.roles, l.str("role")) {
					t.Errorf("want an error line naming %s, the role (%v) and state assigned: %s", tc.says, tc.roles, l.raw)
				}
				b.waitLog(t, ioTimeout, "client disconnected", nil)
				b.assertClean(t, 0)
			})
		}
	})
}
