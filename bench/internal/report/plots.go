package report

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/forkmq/forkmq/bench/internal/scenario"
)

const (
	plotWidth  = 10 * vg.Inch
	plotHeight = 4.5 * vg.Inch
	// logSpan is the ratio between the largest and smallest value above
	// which an axis is logarithmic: bars of 600 and 1.6 M on one linear
	// axis hide the small one.
	logSpan = 20
)

var red = color.RGBA{R: 200, A: 255}

// Headline is the file name of the first page's picture.
const HeadlinePlot = "headline.png"

// WritePlots renders the PNG plots into dir and returns their file names
// per scenario (and "headline").
func (r *Results) WritePlots(dir string) (map[string][]string, error) {
	files := map[string][]string{}
	var errs []string
	add := func(scen, name string, err error) {
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", name, err))
			return
		}
		files[scen] = append(files[scen], name)
	}
	if len(r.Headline()) > 0 {
		add("headline", HeadlinePlot, r.headlinePlot(filepath.Join(dir, HeadlinePlot)))
	}
	for _, c := range r.casesOf(scenario.Seed) {
		name := fmt.Sprintf("seed-%s-cpu-pct.png", c.Name)
		add(scenario.Seed, name, r.series(filepath.Join(dir, name), "seed, "+c.Label+": broker CPU, every run", c.Name, "cpu_pct"))
	}
	dotPlots := []struct {
		scen    string
		metrics []string
	}{
		{scenario.Capacity, []string{"msgs_per_s", "cpu_s_per_million", "latency_p99_ms"}},
		{scenario.Probe, []string{"latency_p50_ms", "latency_p99_ms"}},
		{scenario.Burst, []string{"burst_s"}},
		{scenario.Connect, []string{"conns_per_s", "connack_p99_ms"}},
		{scenario.Takeover, []string{"takeover_p99_ms"}},
		{scenario.Hostile, []string{"hostile_per_s", "latency_p99_ms"}},
		{scenario.Scale, []string{"pss_kib_per_client", "idle_cpu_us_per_client_s", "connect_s"}},
	}
	for _, d := range dotPlots {
		for _, group := range r.groups(d.scen) {
			for _, m := range d.metrics {
				if !r.hasMetric(d.scen, m) {
					continue
				}
				name := fmt.Sprintf("%s-%s%s.png", d.scen, fileWord(group), strings.ReplaceAll(m, "_", "-"))
				add(d.scen, name, r.dots(filepath.Join(dir, name), d.scen, group, m))
			}
		}
	}
	for _, group := range r.groups(scenario.Latency) {
		name := fmt.Sprintf("latency-%s.png", group)
		add(scenario.Latency, name, r.curves(filepath.Join(dir, name), group))
	}
	if len(errs) > 0 {
		return files, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return files, nil
}

func fileWord(group string) string {
	if group == "" {
		return ""
	}
	return strings.ReplaceAll(group, " ", "") + "-"
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

// glyph gives each broker the same marker shape in every plot, so that
// the plots read in grey too.
func (r *Results) glyph(broker string) draw.GlyphDrawer {
	for i, b := range r.Brokers {
		if b.Name == broker {
			return plotutil.Shape(i)
		}
	}
	return draw.CircleGlyph{}
}

// scaleFor chooses a logarithmic axis when the positive values span more
// than logSpan, and returns the floor that stands for zero on it.
func scaleFor(vals []float64) (logarithmic bool, floor float64) {
	lo, hi := math.Inf(1), 0.0
	for _, v := range vals {
		if v > 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if hi == 0 || hi/lo <= logSpan {
		return false, 0
	}
	return true, lo / 2
}

func useLog(axis *plot.Axis, floor, top float64) {
	axis.Scale = plot.LogScale{}
	axis.Tick.Marker = plot.LogTicks{Prec: -1}
	axis.Min, axis.Max = floor, top*3
}

// dots plots one metric of a scenario's cases in one group: a point per
// case and broker at the median of the runs that count, with the range of
// the repetitions as error bars. A cell without a counted run says why
// ("refused", "failed"), one with fewer counted runs than repetitions says
// how many ("n=2/3"), flagged runs add "*", and a case that lost messages
// says how many percent.
func (r *Results) dots(file, scen, group, metric string) error {
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
	if m.Better != "" {
		p.Title.Text += " (" + m.Better + " is better)"
	}
	p.Y.Label.Text = m.Unit
	p.Legend.Top = true
	p.Add(plotter.NewGrid())

	var all []float64
	for _, c := range cases {
		for _, br := range brokers {
			if s, ok := r.Lookup(scen, c.Name, br, metric); ok {
				all = append(all, s.Min, s.Median, s.Max)
			}
		}
	}
	logarithmic, floor := scaleFor(all)
	top := max(maxOf(all), 1e-9)
	bottom := 0.0
	if logarithmic {
		useLog(&p.Y, floor, top)
		bottom = floor
	} else {
		p.Y.Min, p.Y.Max = 0, top*1.35
	}
	at := func(v float64) float64 {
		if logarithmic {
			return max(v, floor)
		}
		return v
	}
	slot := 0.8 / float64(max(1, len(brokers)))
	var notes plotter.XYLabels
	var noteColors []color.Color
	for i, br := range brokers {
		offset := slot * (float64(i) - float64(len(brokers)-1)/2)
		var pts plotter.XYs
		var errs plotter.YErrors
		for j, c := range cases {
			x := float64(j) + offset
			cell, _ := r.CellOf(scen, c.Name, br)
			s, ok := r.Lookup(scen, c.Name, br, metric)
			note := ""
			switch {
			case !ok && cell.Runs > 0:
				note = cellFailure(cell)
			case ok:
				pts = append(pts, plotter.XY{X: x, Y: at(s.Median)})
				errs = append(errs, struct{ Low, High float64 }{at(s.Median) - at(s.Min), at(s.Max) - at(s.Median)})
				if cell.Counted() < cell.Runs {
					note = fmt.Sprintf("n=%d/%d", cell.Counted(), cell.Runs)
				}
				if cell.Flagged > 0 {
					note += "*"
				}
				if loss, ok := r.Lookup(scen, c.Name, br, "loss_pct"); ok && loss.Median > 0 && metric != "loss_pct" {
					note = strings.TrimSpace(note + fmt.Sprintf(" loss %s%%", Format(loss.Median)))
				}
			}
			if note != "" {
				y := bottom
				if ok {
					y = at(s.Max)
				}
				notes.XYs = append(notes.XYs, plotter.XY{X: x, Y: y})
				notes.Labels = append(notes.Labels, note)
				if strings.Contains(note, "loss") || !ok {
					noteColors = append(noteColors, red)
				} else {
					noteColors = append(noteColors, color.Black)
				}
			}
		}
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = r.color(br), r.glyph(br), vg.Points(4)
		p.Add(sc)
		p.Legend.Add(br, sc)
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{pts, errs})
		if err != nil {
			return err
		}
		eb.LineStyle.Color = r.color(br)
		p.Add(eb)
	}
	if len(notes.XYs) > 0 {
		l, err := plotter.NewLabels(notes)
		if err != nil {
			return err
		}
		for i := range l.TextStyle {
			l.TextStyle[i].Font.Size = vg.Points(7)
			l.TextStyle[i].Color = noteColors[i]
			l.TextStyle[i].Rotation = math.Pi / 2
			l.TextStyle[i].XAlign = text.XLeft
			l.TextStyle[i].YAlign = text.YCenter
		}
		l.Offset = vg.Point{Y: vg.Points(4)}
		p.Add(l)
	}
	labels := make([]string, len(cases))
	for i, c := range cases {
		labels[i] = strings.TrimSpace(strings.TrimSuffix(c.Label, group))
	}
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.5, float64(len(cases))-0.5
	return p.Save(plotWidth, plotHeight, file)
}

// cellFailure says why a cell has no figure: the most common outcome of
// its runs.
func cellFailure(c Cell) string {
	best, word := 0, "no run"
	for _, o := range []struct {
		n    int
		word string
	}{{c.Refused, "refused"}, {c.Failed, "failed"}, {c.Skipped, "skipped"}} {
		if o.n > best {
			best, word = o.n, o.word
		}
	}
	return fmt.Sprintf("%s ×%d", word, best)
}

// series plots a seed case's CPU second by second: one thin line per run,
// all runs of a broker in its color. A median of time series would hide
// what matters at a few percent of a core: how the runs differ.
func (r *Results) series(file, title, cas, series string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "seconds into the measurement"
	p.Y.Label.Text = "% of one core"
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	var all []float64
	for _, run := range r.Runs {
		if run.Scenario == scenario.Seed && run.Case == cas && scenario.Counts(run.Status) {
			all = append(all, run.Series[series]...)
		}
	}
	logarithmic, floor := scaleFor(all)
	if logarithmic {
		floor = max(floor, 0.01)
		useLog(&p.Y, floor, maxOf(all))
	} else {
		p.Y.Min, p.Y.Max = 0, max(maxOf(all)*1.35, 1)
	}
	step := r.Config.Sample.Seconds()
	legend := map[string]bool{}
	for _, run := range r.Runs {
		vals := run.Series[series]
		if run.Scenario != scenario.Seed || run.Case != cas || !scenario.Counts(run.Status) || len(vals) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(vals))
		for i, v := range vals {
			if logarithmic {
				v = max(v, floor)
			}
			xys[i] = plotter.XY{X: float64(i+1) * step, Y: v}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		l.Color = r.color(run.Broker)
		l.Width = vg.Points(0.8)
		p.Add(l)
		if !legend[run.Broker] {
			legend[run.Broker] = true
			p.Legend.Add(run.Broker, l)
		}
	}
	return p.Save(plotWidth, plotHeight, file)
}

// curves plots latency against offered load for one flow: per broker, p99
// as a solid line and p50 dashed, both axes logarithmic, with the range of
// the repetitions as error bars on p99. A point whose broker did not
// deliver what was offered is circled in red.
func (r *Results) curves(file, group string) error {
	var cases []Case
	for _, c := range r.casesOf(scenario.Latency) {
		if c.Group == group {
			cases = append(cases, c)
		}
	}
	p := plot.New()
	p.Title.Text = "latency against offered load, " + group + " (red ring: load not sustained)"
	p.X.Label.Text = "offered deliveries/s"
	p.Y.Label.Text = "ms"
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	var xs, ys []float64
	type point struct {
		x, p50, p99, lo, hi float64
		unsustained         bool
	}
	curves := map[string][]point{}
	for _, br := range r.ran() {
		for _, c := range cases {
			off, ok1 := r.Lookup(scenario.Latency, c.Name, br, "offered_per_s")
			p99, ok2 := r.Lookup(scenario.Latency, c.Name, br, "latency_p99_ms")
			p50, ok3 := r.Lookup(scenario.Latency, c.Name, br, "latency_p50_ms")
			if !ok1 || !ok2 || !ok3 || off.Median <= 0 {
				continue
			}
			pt := point{x: off.Median, p50: p50.Median, p99: p99.Median, lo: p99.Min, hi: p99.Max,
				unsustained: r.flagged(scenario.Latency, c.Name, br, "unsustained")}
			curves[br] = append(curves[br], pt)
			xs = append(xs, pt.x)
			ys = append(ys, pt.p50, pt.p99, pt.lo, pt.hi)
		}
	}
	if len(xs) == 0 {
		return fmt.Errorf("no latency point for %s", group)
	}
	floorY := math.Inf(1)
	for _, y := range ys {
		if y > 0 {
			floorY = min(floorY, y)
		}
	}
	useLog(&p.X, slices.Min(xs)/2, slices.Max(xs))
	useLog(&p.Y, floorY/2, slices.Max(ys))
	pos := func(y float64) float64 { return max(y, floorY/2) }
	var rings plotter.XYs
	for _, br := range r.ran() {
		pts := curves[br]
		if len(pts) == 0 {
			continue
		}
		sort.Slice(pts, func(i, j int) bool { return pts[i].x < pts[j].x })
		var l99, l50 plotter.XYs
		var errs plotter.YErrors
		for _, pt := range pts {
			l99 = append(l99, plotter.XY{X: pt.x, Y: pos(pt.p99)})
			l50 = append(l50, plotter.XY{X: pt.x, Y: pos(pt.p50)})
			errs = append(errs, struct{ Low, High float64 }{pos(pt.p99) - pos(pt.lo), pos(pt.hi) - pos(pt.p99)})
			if pt.unsustained {
				rings = append(rings, plotter.XY{X: pt.x, Y: pos(pt.p99)})
			}
		}
		line, points, err := plotter.NewLinePoints(l99)
		if err != nil {
			return err
		}
		line.Color, points.Color, points.Shape = r.color(br), r.color(br), r.glyph(br)
		p.Add(line, points)
		p.Legend.Add(br+" p99", line, points)
		dashed, err := plotter.NewLine(l50)
		if err != nil {
			return err
		}
		dashed.Color, dashed.Dashes = r.color(br), []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(dashed)
		p.Legend.Add(br+" p50", dashed)
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{l99, errs})
		if err != nil {
			return err
		}
		eb.LineStyle.Color = r.color(br)
		p.Add(eb)
	}
	if len(rings) > 0 {
		sc, err := plotter.NewScatter(rings)
		if err != nil {
			return err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: red, Radius: vg.Points(7), Shape: draw.RingGlyph{}}
		p.Add(sc)
	}
	return p.Save(plotWidth, 1.3*plotHeight, file)
}

// flagged reports whether a counted run of the cell has a flag starting
// with prefix.
func (r *Results) flagged(scen, cas, broker, prefix string) bool {
	for _, run := range r.Runs {
		if run.Scenario == scen && run.Case == cas && run.Broker == broker && scenario.Counts(run.Status) &&
			slices.ContainsFunc(run.Flags, func(f string) bool { return strings.HasPrefix(f, prefix) }) {
			return true
		}
	}
	return false
}

// headlinePlot draws the first page's picture: for every figure, how many
// times worse (right of 1) or better (left) the first broker of each
// comparison is than the second, on a logarithmic axis.
func (r *Results) headlinePlot(file string) error {
	figs := r.Headline()
	p := plot.New()
	p.Title.Text = "What two processes per client cost: how many times worse (>1) or better (<1)"
	p.X.Label.Text = "times worse than the second broker of the comparison (log scale)"
	p.Legend.Top = true
	p.Legend.Left = false
	p.Add(plotter.NewGrid())
	labels := make([]string, len(figs))
	lo, hi := 1.0, 1.0
	for i := range figs {
		labels[len(figs)-1-i] = figs[i].Label
	}
	shapes := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}}
	var values plotter.XYLabels
	for k, cmp := range Comparisons {
		var pts plotter.XYs
		for i, f := range figs {
			ratio, _, _ := r.Ratio(f, cmp)
			c := Cost(f.Metric, ratio)
			if math.IsNaN(c) || math.IsInf(c, 0) || c <= 0 {
				continue
			}
			lo, hi = min(lo, c), max(hi, c)
			pts = append(pts, plotter.XY{X: c, Y: float64(len(figs)-1-i) + 0.2*float64(1-k)})
			values.XYs = append(values.XYs, pts[len(pts)-1])
			values.Labels = append(values.Labels, sig3(c))
		}
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: plotutil.Color(k), Radius: vg.Points(5), Shape: shapes[k%len(shapes)]}
		p.Add(sc)
		p.Legend.Add(cmp.Label, sc)
	}
	if len(values.XYs) > 0 {
		l, err := plotter.NewLabels(values)
		if err != nil {
			return err
		}
		for i := range l.TextStyle {
			l.TextStyle[i].Font.Size = vg.Points(7)
			l.TextStyle[i].YAlign = text.YCenter
		}
		l.Offset = vg.Point{X: vg.Points(7)}
		p.Add(l)
	}
	one, err := plotter.NewLine(plotter.XYs{{X: 1, Y: -0.5}, {X: 1, Y: float64(len(figs)) - 0.5}})
	if err != nil {
		return err
	}
	one.Color = color.Black
	p.Add(one)
	p.NominalY(labels...)
	p.Y.Min, p.Y.Max = -0.5, float64(len(figs))-0.5+1.2 // room for the legend
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.X.Min, p.X.Max = lo/2, hi*2
	return p.Save(12*vg.Inch, vg.Length(1.5+0.45*float64(len(figs)))*vg.Inch, file)
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}
