package scenario

import (
	"slices"
	"strings"
	"testing"
)

func TestCasesPerMode(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want map[string]int
	}{
		{"full", Full(), map[string]int{Seed: 3, Capacity: 10, Latency: 10, Probe: 2, Burst: 1, Connect: 1, Takeover: 1, Hostile: 1, Scale: 3, CrossCheck: 1}},
		{"smoke", Smoke(), map[string]int{Seed: 2, Capacity: 4, Latency: 2, Probe: 1, Burst: 1, Connect: 1, Takeover: 1, Hostile: 1, Scale: 1, CrossCheck: 1}},
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
			if strings.ContainsAny(c.Name, " /%→") {
				t.Errorf("%s: case name %q is not safe in a file name", tc.name, c.Name)
			}
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

// Latency cases take their loads from the capacity cases, so capacity must
// run first whatever order the scenarios are asked in; and the cross-check
// needs mqbench's own figure for its flow.
func TestOrderAndCrossReferences(t *testing.T) {
	cases, err := Cases(Full(), []string{Latency, Capacity})
	if err != nil {
		t.Fatal(err)
	}
	if cases[0].Scenario != Capacity {
		t.Fatalf("first case is %s/%s, want capacity first", cases[0].Scenario, cases[0].Name)
	}
	capNames := map[string]bool{}
	for _, c := range capacityCases(Full()) {
		capNames[c.Name] = true
	}
	for _, fl := range Full().LatencyFlows {
		if !capNames[CapacityCase(fl)] {
			t.Errorf("latency flow %s has no capacity case", fl.Name())
		}
	}
	if !capNames[CrossCheckFlow.Name()] {
		t.Errorf("the cross-check's flow %s has no capacity case to compare with", CrossCheckFlow.Name())
	}
}

func TestSmokeCapacityCoversBothQoSAndPayloads(t *testing.T) {
	qos, payload := map[byte]bool{}, map[int]bool{}
	for _, f := range Smoke().CapacityFlows {
		qos[f.QoS] = true
		payload[f.Payload] = true
	}
	if len(qos) < 2 || len(payload) < 2 {
		t.Fatalf("smoke capacity flows cover QoS %v and payloads %v", qos, payload)
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
	for _, tc := range []struct {
		flow Flow
		want float64
	}{{Flow{"1to1", 0, 64}, 1}, {Flow{"10to10", 0, 64}, 1}, {Flow{"1to100", 0, 64}, 100}, {Flow{"100to1", 1, 64}, 1}} {
		if got := tc.flow.fanout(); got != tc.want {
			t.Errorf("%s fanout = %v, want %v", tc.flow.Name(), got, tc.want)
		}
	}
	if got := (Flow{"1to100", 1, 16 << 10}).Label(); got != "1→100 QoS 1 16 KiB" {
		t.Errorf("Label = %q", got)
	}
	if ScaleLevel(scaleCases(Full())[2]) != 5000 || ScaleLevel(seedCases(Full())[0]) != 0 {
		t.Error("ScaleLevel should read the level of scale cases only")
	}
}

// The malformed first packets each break a rule the broker must close the
// connection for; they must stay distinct and non-empty.
func TestMalformedPackets(t *testing.T) {
	seen := map[string]bool{}
	for i, b := range malformed {
		if len(b) == 0 || seen[string(b)] {
			t.Errorf("malformed packet %d empty or repeated: % x", i, b)
		}
		seen[string(b)] = true
	}
	if string(malformed[2][4:8]) != "MQTX" || malformed[3][9]&0x01 == 0 {
		t.Errorf("the protocol name and reserved-flag variants are not where expected: % x / % x", malformed[2], malformed[3])
	}
}
