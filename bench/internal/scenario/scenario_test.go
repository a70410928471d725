package scenario

import (
	"slices"
	"testing"
)

func TestCasesPerMode(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want map[string]int
	}{
		{"full", Full(), map[string]int{Seed: 3, Throughput: 16, Connect: 1, Scale: 3}},
		{"smoke", Smoke(), map[string]int{Seed: 2, Throughput: 4, Connect: 1, Scale: 1}},
	} {
		cases, err := Cases(tc.cfg, All)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		names := map[string]bool{}
		for _, c := range cases {
			got[c.Scenario]++
			if names[c.Scenario+"/"+c.Name] {
				t.Errorf("%s: case %s/%s twice", tc.name, c.Scenario, c.Name)
			}
			names[c.Scenario+"/"+c.Name] = true
		}
		for s, n := range tc.want {
			if got[s] != n {
				t.Errorf("%s: %d %s cases, want %d", tc.name, got[s], s, n)
			}
		}
	}
	if _, err := Cases(Full(), []string{"nope"}); err == nil {
		t.Error("an unknown scenario should be an error")
	}
}

func TestSmokeThroughputCoversBothQoSAndPayloads(t *testing.T) {
	qos, payload := map[string]bool{}, map[string]bool{}
	for _, c := range throughputCases(Smoke()) {
		qos[c.Name[len(c.Name)-len("q0-64B"):][:2]] = true
		payload[c.Group] = true
	}
	if len(qos) < 2 || len(payload) < 2 {
		t.Fatalf("smoke throughput cases cover QoS %v and payloads %v", qos, payload)
	}
}

func TestWirings(t *testing.T) {
	p := pairs("x", 3, 3)
	if len(p.pubTopics) != 3 || p.subFilters[2] != p.pubTopics[2] || !slices.Equal(p.subFollows[1], []uint32{1}) {
		t.Errorf("pairs = %+v", p)
	}
	o := fanOut("x", 1, 4)
	if len(o.pubTopics) != 1 || len(o.subFilters) != 4 || o.subFilters[3] != o.pubTopics[0] {
		t.Errorf("fanOut = %+v", o)
	}
	i := fanIn("x", 5, 1)
	if len(i.subFilters) != 1 || i.subFilters[0] != "tp/x/+" || len(i.subFollows[0]) != 5 {
		t.Errorf("fanIn = %+v", i)
	}
	if ScaleLevel(scaleCases(Full())[2]) != 5000 || ScaleLevel(seedCases(Full())[0]) != 0 {
		t.Error("ScaleLevel should read the level of scale cases only")
	}
}
