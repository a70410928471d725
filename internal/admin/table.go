package admin

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// row is one process of the table that the live view shows under its
// drawing and the status command prints: the same rows, the same columns.
type row struct {
	Role, Key, PIDText, Client, Remote, State string
	PID                                       int
	CPU, Memory, In, Out                      string
	Queue, Depth                              string
}

// rows lists the view's processes: the supervisor, each client's router
// and deliverer, then the others.
func rows(v *View) []row {
	depth := make(map[string]Queue, len(v.Queues))
	for _, q := range v.Queues {
		depth[q.Name] = q
	}
	var out []row
	add := func(p Process, client, remote, queue string) {
		r := v.Rate(p)
		rw := row{Role: p.Role, Key: p.Key, PID: p.PID, PIDText: "-", Client: client, Remote: remote, State: p.State,
			CPU: fmt.Sprintf("%.1f%%", r.CPU), Memory: "-", In: rate(r.MessagesIn), Out: rate(r.MessagesOut), Queue: queue}
		if p.PID != 0 {
			rw.PIDText = strconv.Itoa(p.PID)
		}
		if p.Memory > 0 {
			rw.Memory = bytesIEC(p.Memory)
		}
		if q, ok := depth[queue]; ok && queue != "" {
			rw.Depth = fmt.Sprintf("%d/%d", q.Depth, q.Capacity)
		}
		out = append(out, rw)
	}
	add(v.Supervisor, "", "", "")
	for _, c := range v.Clients {
		add(c.Router, c.ID, c.Remote, "")
		add(c.Deliverer, c.ID, c.Remote, c.Queue)
	}
	for _, p := range v.Others {
		add(p, "", "", "")
	}
	return out
}

// WriteTable prints the view as the status command shows it: a summary
// line, the process table, and the topic files with the queues they list.
func WriteTable(w io.Writer, v *View) error {
	n := engineNouns(v.Engine)
	fmt.Fprintf(w, "forkmq %s engine, up %s, %d clients, %d %s; %s in, %s out\n\n",
		v.Engine, since(v.Started, v.Taken), len(v.Clients), processCount(v), n.Processes,
		rate(v.Total.MessagesIn), rate(v.Total.MessagesOut))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "ROLE\tPID\tCLIENT\tREMOTE\tSTATE\tCPU\tMEMORY\tMSG IN/S\tMSG OUT/S\t%s\tDEPTH\n", strings.ToUpper(n.Queue))
	for _, r := range rows(v) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Role, r.PIDText, dash(r.Client), dash(r.Remote), r.State, r.CPU, r.Memory, r.In, r.Out, dash(r.Queue), dash(r.Depth))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(v.Topics) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "TOPIC FILTER\t%sS\n", strings.ToUpper(n.Queue))
	for _, t := range v.Topics {
		entries := make([]string, len(t.Entries))
		for i, e := range t.Entries {
			entries[i] = fmt.Sprintf("%s (QoS %d)", e.Queue, e.QoS)
		}
		fmt.Fprintf(tw, "%s\t%s\n", t.Filter, strings.Join(entries, ", "))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// processCount is how many processes (goroutines) the view shows.
func processCount(v *View) int { return 1 + 2*len(v.Clients) + len(v.Others) }
