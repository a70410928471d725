package systopics

import (
	"github.com/forkmq/forkmq/internal/procstat"
	"github.com/forkmq/forkmq/internal/scoreboard"
)

// FromBoard is the counts a scoreboard gives, in either engine: every
// process's counters (those that exited included), the clients connected
// (routers past CONNECT), and the anonymous memory of every distinct
// process that holds a slot (in the goroutine engine, the one process).
// The engine adds what the board does not hold: subscriptions, retained
// messages, offline sessions.
func FromBoard(rd scoreboard.Reading) Counts {
	t := &rd.Total.Counters
	c := Counts{
		MessagesReceived: t[scoreboard.MessagesReceived],
		MessagesSent:     t[scoreboard.MessagesSent],
		PublishDropped:   t[scoreboard.PublishDropped],
		BytesReceived:    t[scoreboard.BytesReceived],
		BytesSent:        t[scoreboard.BytesSent],
		Connects:         t[scoreboard.Connects],
	}
	seen := make(map[int]bool, len(rd.Slots))
	for _, s := range rd.Slots {
		if s.Role == scoreboard.RoleRouter && s.State == scoreboard.StateConnected {
			c.ClientsConnected++
		}
		if s.PID > 0 && !seen[s.PID] {
			seen[s.PID] = true
			if anon, err := procstat.AnonRSS(s.PID); err == nil {
				c.HeapBytes += anon
			}
		}
	}
	return c
}
