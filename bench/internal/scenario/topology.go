package scenario

import "fmt"

// Topology is a shape of publishers and subscribers.
type Topology struct {
	Name  string // for file names: 1to1
	Label string // for tables: 1→1
	Pubs  int
	Subs  int
	wire  func(prefix string, pubs, subs int) wiring
}

// Topologies the flows are built from.
var Topologies = []Topology{
	{"1to1", "1→1", 1, 1, pairs},
	{"10to10", "10→10", 10, 10, pairs},
	{"1to100", "1→100", 1, 100, fanOut},
	{"100to1", "100→1", 100, 1, fanIn},
}

// topology returns the named topology; an unknown name is a programming
// error in a preset.
func topology(name string) Topology {
	for _, t := range Topologies {
		if t.Name == name {
			return t
		}
	}
	panic("scenario: unknown topology " + name)
}

// pairs: publisher i to subscriber i, on a topic of their own.
func pairs(prefix string, n, _ int) wiring {
	var w wiring
	for i := 0; i < n; i++ {
		topic := fmt.Sprintf("tp/%s/%d", prefix, i)
		w.pubTopics = append(w.pubTopics, topic)
		w.subFilters = append(w.subFilters, topic)
		w.subFollows = append(w.subFollows, []uint32{uint32(i)})
	}
	return w
}

// fanOut: one publisher, every subscriber on its topic.
func fanOut(prefix string, _, subs int) wiring {
	w := wiring{pubTopics: []string{"tp/" + prefix + "/0"}}
	for i := 0; i < subs; i++ {
		w.subFilters = append(w.subFilters, w.pubTopics[0])
		w.subFollows = append(w.subFollows, []uint32{0})
	}
	return w
}

// fanIn: every publisher on a topic of its own, one subscriber to all of
// them through a wildcard.
func fanIn(prefix string, pubs, _ int) wiring {
	w := wiring{subFilters: []string{"tp/" + prefix + "/+"}, subFollows: [][]uint32{nil}}
	for i := 0; i < pubs; i++ {
		w.pubTopics = append(w.pubTopics, fmt.Sprintf("tp/%s/%d", prefix, i))
		w.subFollows[0] = append(w.subFollows[0], uint32(i))
	}
	return w
}

// wire builds the flow's wiring for one run.
func (f Flow) wire(prefix string) wiring {
	t := topology(f.Topology)
	return t.wire(prefix, t.Pubs, t.Subs)
}

// fanout is the number of deliveries one published message makes.
func (f Flow) fanout() float64 {
	t := topology(f.Topology)
	if t.Pubs == 1 {
		return float64(t.Subs)
	}
	return 1
}

func payloadLabel(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}
