package admin

import (
	"fmt"
	"strings"
	"time"
)

// The live view's drawing: the supervisor at the top, each client's pair
// below it in a card (router, deliverer, the queue between them and the
// messages/s along them), and the topic files at the bottom with a line to
// every queue they list. Positions are computed here, in Go, so the page
// needs no layout code; the template only writes the SVG out.

// Card and grid geometry, in SVG user units (pixels at 100 %).
const (
	margin   = 20
	cardW    = 290
	cardH    = 150
	cardGap  = 20
	maxCols  = 4
	procW    = 128
	procH    = 44
	queueW   = 110
	queueH   = 22
	topicW   = 200
	topicH   = 26
	topicGap = 12
	supW     = 360
	supH     = 46
	otherW   = 150
	otherH   = 34
)

// diagram is what the SVG template draws.
type diagram struct {
	Width, Height int
	Noun          nouns
	Supervisor    procBox
	Others        []procBox
	Cards         []card
	Topics        []topicBox
	Spawns        []link // the supervisor to its workers, drawn under them
	Subscriptions []link // topic files to the queues they list, drawn over the cards
}

// nouns are the words of the engine: processes and queues, or goroutines
// and channels.
type nouns struct {
	Process, Processes, Queue string
}

type procBox struct {
	X, Y, W, H int
	ID         string // the element id: proc-<key>
	Role, Key  string
	PID        int
	Title      string // first line: role and pid
	Detail     string // second line: CPU and memory
	State      string
}

type card struct {
	X, Y, W, H       int
	ID               string // client-<queue>
	Client, Remote   string
	Router, Delivery procBox
	Queue            queueBar
	InRate, OutRate  string // messages/s into the router, out of the deliverer
}

type queueBar struct {
	X, Y, W, H  int
	ID, Name    string
	Depth, Cap  int
	FillW       int // the filled part of the bar
	Label       string
	Full, Empty bool
}

type topicBox struct {
	X, Y, W, H int
	ID         string
	Filter     string
	Queues     string // the queues it lists, for the tooltip and the test
}

type link struct {
	X1, Y1, X2, Y2 int
	Class          string
}

func engineNouns(engine string) nouns {
	if engine == EngineGoroutine {
		return nouns{Process: "goroutine", Processes: "goroutines", Queue: "channel"}
	}
	return nouns{Process: "process", Processes: "processes", Queue: "queue"}
}

// layout places everything of a view.
func layout(v *View) diagram {
	d := diagram{Noun: engineNouns(v.Engine)}
	cols := max(1, min(maxCols, len(v.Clients)))
	width := 2*margin + cols*cardW + (cols-1)*cardGap
	width = max(width, 2*margin+supW)

	d.Supervisor = procBoxFor(v, v.Supervisor, (width-supW)/2, margin, supW, supH)
	y := margin + supH + 24
	if n := len(v.Others); n > 0 {
		perRow := max(1, (width-2*margin+cardGap)/(otherW+cardGap))
		for i, p := range v.Others {
			x := margin + (i%perRow)*(otherW+cardGap)
			oy := y + (i/perRow)*(otherH+12)
			d.Others = append(d.Others, procBoxFor(v, p, x, oy, otherW, otherH))
			d.Spawns = append(d.Spawns, link{width / 2, margin + supH, x + otherW/2, oy, "spawn"})
		}
		y += ((n+perRow-1)/perRow)*(otherH+12) + 12
	}

	queueAt := make(map[string]queueBar)
	for i, c := range v.Clients {
		x := margin + (i%cols)*(cardW+cardGap)
		cy := y + (i/cols)*(cardH+cardGap)
		cd := cardFor(v, c, x, cy)
		d.Cards = append(d.Cards, cd)
		queueAt[c.Queue] = cd.Queue
		d.Spawns = append(d.Spawns, link{width / 2, margin + supH, x + cardW/2, cy, "spawn"})
	}
	if len(v.Clients) > 0 {
		y += ((len(v.Clients)+cols-1)/cols)*(cardH+cardGap) + 12
	}

	perRow := max(1, (width-2*margin+topicGap)/(topicW+topicGap))
	for i, t := range v.Topics {
		x := margin + (i%perRow)*(topicW+topicGap)
		ty := y + (i/perRow)*(topicH+topicGap)
		names := make([]string, len(t.Entries))
		for k, e := range t.Entries {
			names[k] = e.Queue
			if q, ok := queueAt[e.Queue]; ok {
				d.Subscriptions = append(d.Subscriptions, link{x + topicW/2, ty, q.X + q.W/2, q.Y + q.H, "subscription"})
			}
		}
		d.Topics = append(d.Topics, topicBox{X: x, Y: ty, W: topicW, H: topicH,
			ID: "topic-" + elementID(t.Filter), Filter: t.Filter, Queues: strings.Join(names, " ")})
	}
	if len(v.Topics) > 0 {
		y += ((len(v.Topics)+perRow-1)/perRow)*(topicH+topicGap) + 12
	}
	d.Width, d.Height = width, y+margin
	return d
}

func cardFor(v *View, c Client, x, y int) card {
	cd := card{X: x, Y: y, W: cardW, H: cardH, ID: "client-" + elementID(c.Queue), Client: c.ID, Remote: c.Remote}
	if cd.Client == "" {
		cd.Client = "(before CONNECT)"
	}
	cd.Router = procBoxFor(v, c.Router, x+10, y+30, procW, procH)
	cd.Delivery = procBoxFor(v, c.Deliverer, x+10, y+94, procW, procH)
	cd.InRate = rate(v.Rate(c.Router).MessagesIn)
	cd.OutRate = rate(v.Rate(c.Deliverer).MessagesOut)
	// The queue sits beside the deliverer that drains it; the router's
	// arrow leaves the card, towards the queues of whoever subscribes.
	q := queueFor(v, c.Queue)
	q.X, q.Y, q.W, q.H = x+cardW-queueW-12, y+105, queueW, queueH
	if q.Cap > 0 {
		q.FillW = min(q.W, q.W*q.Depth/q.Cap)
	}
	cd.Queue = q
	return cd
}

func queueFor(v *View, name string) queueBar {
	q := queueBar{ID: "queue-" + elementID(name), Name: name}
	for _, vq := range v.Queues {
		if vq.Name == name {
			q.Depth, q.Cap = vq.Depth, vq.Capacity
			break
		}
	}
	q.Label = fmt.Sprintf("%d/%d", q.Depth, q.Cap)
	q.Full = q.Cap > 0 && q.Depth >= q.Cap
	q.Empty = q.Depth == 0
	return q
}

func procBoxFor(v *View, p Process, x, y, w, h int) procBox {
	b := procBox{X: x, Y: y, W: w, H: h, ID: "proc-" + elementID(p.Key), Role: p.Role, Key: p.Key, PID: p.PID, State: p.State}
	b.Title = p.Role
	if p.PID != 0 {
		b.Title += fmt.Sprintf(" %d", p.PID)
	}
	b.Detail = fmt.Sprintf("%.1f%% CPU", v.Rate(p).CPU)
	if p.Memory > 0 {
		b.Detail += " · " + bytesIEC(p.Memory)
	}
	return b
}

// elementID makes a name safe as an HTML id: every byte outside
// [A-Za-z0-9_.-] becomes '_'.
func elementID(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// rate formats messages per second.
func rate(r float64) string {
	switch {
	case r == 0:
		return "0/s"
	case r < 10:
		return fmt.Sprintf("%.1f/s", r)
	case r < 10000:
		return fmt.Sprintf("%.0f/s", r)
	}
	return fmt.Sprintf("%.0fk/s", r/1000)
}

// bytesIEC formats a byte count with a binary unit.
func bytesIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// uptime formats a duration for people: 3d4h, 5h12m, 7m3s.
func uptime(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return d.String()
}
