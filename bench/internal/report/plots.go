package report

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"

	"github.com/forkmq/forkmq/bench/internal/scenario"
)

const (
	plotWidth  = 10 * vg.Inch
	plotHeight = 4.5 * vg.Inch
)

// WritePlots renders the PNG plots into dir and returns their file names
// per scenario.
func (r *Results) WritePlots(dir string) (map[string][]string, error) {
	files := map[string][]string{}
	add := func(scen, name string, err error) error {
		if err == nil {
			files[scen] = append(files[scen], name)
		}
		return err
	}
	for _, c := range r.casesOf(scenario.Seed) {
		for _, s := range []struct{ series, title, unit string }{
			{"cpu_pct", "broker CPU", "% of one core"},
			{"packets_per_s", "MQTT packets on the wire", "packets/s"},
		} {
			if s.series == "packets_per_s" && c.Name == "idle" {
				continue
			}
			name := fmt.Sprintf("seed-%s-%s.png", c.Name, strings.ReplaceAll(s.series, "_", "-"))
			err := r.lines(filepath.Join(dir, name), fmt.Sprintf("seed, %s: %s", c.Label, s.title), s.unit, c.Name, s.series)
			if err := add(scenario.Seed, name, err); err != nil {
				return files, err
			}
		}
	}
	for _, group := range r.groups(scenario.Throughput) {
		for _, m := range []string{"msgs_per_s", "latency_p50_ms", "latency_p99_ms", "cpu_s_per_million"} {
			name := fmt.Sprintf("throughput-%s-%s.png", strings.ReplaceAll(group, " ", ""), strings.ReplaceAll(m, "_", "-"))
			err := r.bars(filepath.Join(dir, name), scenario.Throughput, group, m)
			if err := add(scenario.Throughput, name, err); err != nil {
				return files, err
			}
		}
	}
	for _, s := range []struct{ scen, metric string }{
		{scenario.Connect, "conns_per_s"}, {scenario.Connect, "connack_p99_ms"},
		{scenario.Scale, "pss_kib_per_client"}, {scenario.Scale, "rss_kib_per_client"}, {scenario.Scale, "connect_s"},
	} {
		if len(r.casesOf(s.scen)) == 0 || !r.hasMetric(s.scen, s.metric) {
			continue
		}
		name := fmt.Sprintf("%s-%s.png", s.scen, strings.ReplaceAll(s.metric, "_", "-"))
		if err := add(s.scen, name, r.bars(filepath.Join(dir, name), s.scen, "", s.metric)); err != nil {
			return files, err
		}
	}
	return files, nil
}

// groups returns the distinct groups of a scenario's cases, in order.
func (r *Results) groups(scen string) []string {
	var gs []string
	for _, c := range r.casesOf(scen) {
		if !slices.Contains(gs, c.Group) {
			gs = append(gs, c.Group)
		}
	}
	return gs
}

// color gives each broker the same color in every plot.
func (r *Results) color(broker string) color.Color {
	for i, b := range r.Brokers {
		if b.Name == broker {
			return plotutil.Color(i)
		}
	}
	return color.Black
}

// lines plots one time series of a case, one line per broker.
func (r *Results) lines(file, title, unit, cas, series string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "seconds into the measurement"
	p.Y.Label.Text = unit
	p.Y.Min = 0
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	top := 0.0
	for _, s := range r.Series {
		if s.Scenario != scenario.Seed || s.Case != cas || s.Name != series || len(s.Values) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(s.Values))
		for i, v := range s.Values {
			xys[i] = plotter.XY{X: float64(i+1) * s.Step, Y: v}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		for _, xy := range xys {
			top = max(top, xy.Y)
		}
		l.Color = r.color(s.Broker)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(s.Broker, l)
	}
	p.Y.Max = headroom(top)
	return p.Save(plotWidth, plotHeight, file)
}

// bars plots a metric of a scenario's cases in one group as grouped bars:
// one group per case, one bar per broker.
func (r *Results) bars(file, scen, group, metric string) error {
	m, _ := scenario.MetricByName(metric)
	var cases []Case
	for _, c := range r.casesOf(scen) {
		if c.Group == group {
			cases = append(cases, c)
		}
	}
	brokers := r.ran()
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: %s", scen, m.Label)
	if group != "" {
		p.Title.Text += ", " + group
	}
	p.Y.Label.Text = m.Unit
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	labels := make([]string, len(cases))
	for i, c := range cases {
		labels[i] = strings.TrimSpace(strings.TrimSuffix(c.Label, group))
	}
	// Cases sit at x = 0, 1, …; each gets 80 % of its slot for its bars.
	p.X.Min, p.X.Max = -0.5, float64(len(cases))-0.5
	groupWidth := (plotWidth - vg.Inch) / vg.Length(max(1, len(cases)))
	barWidth := groupWidth * 0.8 / vg.Length(max(1, len(brokers)))
	top := 0.0
	for i, br := range brokers {
		vals := make(plotter.Values, len(cases))
		for j, c := range cases {
			if s, ok := r.Lookup(scen, c.Name, br, metric); ok {
				vals[j] = s.Median
				top = max(top, s.Median)
			}
		}
		b, err := plotter.NewBarChart(vals, barWidth)
		if err != nil {
			return err
		}
		b.Color = r.color(br)
		b.LineStyle.Width = 0
		b.Offset = barWidth * (vg.Length(i) - vg.Length(len(brokers)-1)/2)
		p.Add(b)
		p.Legend.Add(br, b)
		// Each bar carries its value, written upwards: bars of very
		// different heights share one linear axis, and the short ones
		// must still be readable.
		if labels, err := valueLabels(vals, b.Offset); err == nil {
			p.Add(labels)
		}
	}
	p.NominalX(labels...)
	p.Y.Min, p.Y.Max = 0, headroom(top)
	return p.Save(plotWidth, plotHeight, file)
}

// valueLabels writes each value just above its bar.
func valueLabels(vals plotter.Values, offset vg.Length) (*plotter.Labels, error) {
	xyl := plotter.XYLabels{XYs: make(plotter.XYs, len(vals)), Labels: make([]string, len(vals))}
	for j, v := range vals {
		xyl.XYs[j] = plotter.XY{X: float64(j), Y: v}
		if v != 0 {
			xyl.Labels[j] = Format(v)
		}
	}
	l, err := plotter.NewLabels(xyl)
	if err != nil {
		return nil, err
	}
	for j := range l.TextStyle {
		l.TextStyle[j].Font.Size = vg.Points(8)
		l.TextStyle[j].Rotation = math.Pi / 2
		l.TextStyle[j].XAlign = text.XLeft
		l.TextStyle[j].YAlign = text.YCenter
	}
	l.Offset = vg.Point{X: offset, Y: vg.Points(2)}
	return l, nil
}

// headroom leaves space above the highest value for the legend.
func headroom(top float64) float64 {
	if top <= 0 {
		return 1
	}
	return top * 1.35
}
