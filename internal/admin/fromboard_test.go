package admin

import (
	"strings"
	"testing"

	"github.com/forkmq/forkmq/internal/scoreboard"
)

// TestFromReading: a scoreboard's slots become the live view's supervisor,
// client pairs and other workers.
func TestFromReading(t *testing.T) {
	b := scoreboard.New(8)
	alloc := func(id scoreboard.Identity) *scoreboard.Writer {
		t.Helper()
		ref, err := b.Allocate(id)
		if err != nil {
			t.Fatal(err)
		}
		w, err := b.Writer(ref)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	sup := alloc(scoreboard.Identity{Role: scoreboard.RoleSupervisor})
	sup.SetState(scoreboard.StateConnected)
	for _, q := range []string{"forkmq.x.1", "forkmq.x.2"} {
		r := alloc(scoreboard.Identity{Role: scoreboard.RoleRouter, Queue: q, Remote: "127.0.0.1:1"})
		d := alloc(scoreboard.Identity{Role: scoreboard.RoleDeliverer, Queue: q, Remote: "127.0.0.1:1"})
		r.SetClient("c-"+q, "127.0.0.1:1")
		r.SetState(scoreboard.StateConnected)
		d.SetState(scoreboard.StateConnected)
		r.Add(scoreboard.MessagesReceived, 5)
		d.Add(scoreboard.MessagesSent, 7)
	}
	idle := alloc(scoreboard.Identity{Role: scoreboard.RoleRouter})
	idle.SetState(scoreboard.StateIdle)
	alloc(scoreboard.Identity{Role: scoreboard.RoleSys})

	var s Snapshot
	FromReading(&s, b.Read())
	if s.Supervisor.Role != "supervisor" {
		t.Errorf("supervisor = %+v", s.Supervisor)
	}
	if len(s.Clients) != 2 {
		t.Fatalf("clients = %+v", s.Clients)
	}
	for _, c := range s.Clients {
		if c.ID != "c-"+c.Queue || c.Router.Role != "router" || c.Deliverer.Role != "deliverer" ||
			c.Router.Counters[scoreboard.MessagesReceived] != 5 || c.Deliverer.Counters[scoreboard.MessagesSent] != 7 ||
			!strings.Contains(c.Router.Key, ":") {
			t.Errorf("client = %+v", c)
		}
	}
	if len(s.Others) != 2 || s.Others[0].State != "idle" || s.Others[1].Role != "sys" {
		t.Errorf("others = %+v", s.Others)
	}
	if s.Totals.Counters[scoreboard.MessagesSent] != 14 {
		t.Errorf("totals = %v", s.Totals.Counters)
	}
}
