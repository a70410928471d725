package mosqconf

import (
	"strings"
	"testing"
)

// TestChanges: what a SIGHUP finds changed, and which of it can be applied
// live.
func TestChanges(t *testing.T) {
	old := mustParse(t, strings.Join([]string{
		"allow_anonymous true",
		"max_queued_messages 100",
		"listener 1883",
		"listener 8883",
		"certfile /a.crt",
		"connection cloud",
		"address h1",
		"topic a/# out 1",
	}, "\n"))
	new := mustParse(t, strings.Join([]string{
		"allow_anonymous false",
		"max_queued_messages 100",
		"sys_interval 5",
		"listener 8883",
		"certfile /b.crt",
		"listener 1884",
		"connection cloud",
		"address h1",
		"topic a/# out 1",
		"topic b/# in 0",
	}, "\n"))
	var got []string
	for _, c := range Changes(old, new) {
		live := "restart"
		if c.Live {
			live = "live"
		}
		got = append(got, c.Where+" "+c.Key+" "+c.Old+"→"+c.New+" "+live)
	}
	want := []string{
		"global allow_anonymous true→false live",
		"global sys_interval →5 live",
		"listener :8883 certfile /a.crt→/b.crt live",
		"listener :1884 listener →:1884 restart",
		"listener :1883 listener :1883→ restart",
		"bridge cloud topic a/# out 1→a/# out 1 … b/# in 0 restart",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(Changes(new, new)) != 0 {
		t.Error("a file compared with itself has no changes")
	}
}
