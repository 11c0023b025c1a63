package console

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"
)

// The chart's drawing area, in SVG units (the SVG scales to its box).
const (
	chartW, chartH    = 720.0, 240.0
	padLeft, padRight = 56.0, 12.0
	padTop, padBottom = 12.0, 40.0
	plotW, plotH      = chartW - padLeft - padRight, chartH - padTop - padBottom
	maxBarW           = 40.0
	chartTimeLayout   = "Jan 2 15:04"
	chartSideTarget   = "target"
)

// series is one stacked part of a bar.
type series struct {
	name  string
	class string
	value func(p *Pass) float64
}

// charts draws the pass history: users per outcome, duration, and target
// requests with the 429s among them. Each is an SVG with a title and a
// description naming what it shows; the passes table beside it holds the
// same figures as text.
func charts(newestFirst []Pass, loc *time.Location) []template.HTML {
	var ps []Pass
	for _, p := range newestFirst {
		if p.Status != "running" {
			ps = append(ps, p)
		}
	}
	slices.Reverse(ps)
	var perOutcome []series
	for i, o := range outcomes {
		perOutcome = append(perOutcome, series{name: string(o), class: "o-" + string(o), value: func(p *Pass) float64 { return float64(p.Outcomes[i].Count) }})
	}
	traffic := func(f func(t trafficOf) int64) func(p *Pass) float64 {
		return func(p *Pass) float64 {
			t := p.Traffic[chartSideTarget]
			return float64(f(trafficOf{t.Requests, t.Throttled}))
		}
	}
	return []template.HTML{
		barChart("chart-outcomes", "Users per outcome, per pass", "users", ps, loc, perOutcome),
		barChart("chart-duration", "Pass duration", "seconds", ps, loc, []series{{name: "duration", class: "s-duration", value: func(p *Pass) float64 { return p.Seconds }}}),
		barChart("chart-traffic", "Target requests and 429s, per pass", "requests", ps, loc, []series{
			{name: "answered without 429", class: "s-requests", value: traffic(func(t trafficOf) int64 { return t.requests - t.throttled })},
			{name: "answered 429 (throttled)", class: "s-throttled", value: traffic(func(t trafficOf) int64 { return t.throttled })},
		}),
	}
}

type trafficOf struct{ requests, throttled int64 }

// barChart draws one bar per pass, its series stacked, oldest on the left.
func barChart(id, title, unit string, ps []Pass, loc *time.Location, ss []series) template.HTML {
	var b strings.Builder
	esc := html.EscapeString
	desc := "No pass is kept yet, so the chart is empty."
	if len(ps) > 0 {
		desc = fmt.Sprintf("%d bars, one per kept pass from %s to %s, oldest on the left; each bar stacks %s in %s. The passes table lists the same figures.",
			len(ps), ps[0].Started.In(loc).Format(chartTimeLayout), ps[len(ps)-1].Started.In(loc).Format(chartTimeLayout), seriesNames(ss), unit)
	}
	fmt.Fprintf(&b, `<figure class="chart" id="%s"><svg viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="%s-title %s-desc" class="chart-svg">`, id, chartW, chartH, id, id)
	fmt.Fprintf(&b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, id, esc(title), id, esc(desc))
	top := 0.0
	for i := range ps {
		sum := 0.0
		for _, s := range ss {
			sum += s.value(&ps[i])
		}
		top = max(top, sum)
	}
	top = niceCeil(top)
	// Axes and three grid lines, labelled.
	for _, f := range []float64{0, 0.5, 1} {
		y := padTop + plotH*(1-f)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, padLeft, y, chartW-padRight, y)
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, padLeft-6, y+4, esc(tickLabel(top*f)))
	}
	if len(ps) > 0 {
		slot := plotW / float64(len(ps))
		w := math.Min(maxBarW, slot*0.8)
		for i := range ps {
			p := &ps[i]
			x := padLeft + slot*float64(i) + (slot-w)/2
			var parts []string
			y := padTop + plotH
			fmt.Fprintf(&b, `<g class="point" data-pass="%s">`, esc(p.ID))
			var rects strings.Builder
			for _, s := range ss {
				v := s.value(p)
				parts = append(parts, fmt.Sprintf("%s %s", tickLabel(v), s.name))
				if v <= 0 || top == 0 {
					continue
				}
				h := plotH * v / top
				y -= h
				fmt.Fprintf(&rects, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, s.class, x, y, w, h)
			}
			fmt.Fprintf(&b, `<title>%s (%s %s): %s</title>%s</g>`, esc(p.Started.In(loc).Format(chartTimeLayout)), esc(p.Kind), esc(p.ID), esc(strings.Join(parts, ", ")), rects.String())
		}
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f">%s</text>`, padLeft, chartH-padBottom+16, esc(ps[0].Started.In(loc).Format(chartTimeLayout)))
		if len(ps) > 1 {
			fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, chartW-padRight, chartH-padBottom+16, esc(ps[len(ps)-1].Started.In(loc).Format(chartTimeLayout)))
		}
	}
	fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f">%s</text>`, padLeft, chartH-6, esc(unit+" per pass, oldest pass on the left"))
	b.WriteString(`</svg><figcaption><span class="chart-title">` + esc(title) + `</span>`)
	if len(ss) > 1 {
		b.WriteString(`<ul class="legend">`)
		for _, s := range ss {
			fmt.Fprintf(&b, `<li><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect class="%s" width="10" height="10"/></svg>%s</li>`, s.class, esc(s.name))
		}
		b.WriteString(`</ul>`)
	}
	b.WriteString(`</figcaption></figure>`)
	// Every value above is escaped or a number: the SVG is safe as HTML.
	return template.HTML(b.String())
}

func seriesNames(ss []series) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.name
	}
	return strings.Join(names, ", ")
}

// niceCeil rounds a chart's top up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func tickLabel(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
