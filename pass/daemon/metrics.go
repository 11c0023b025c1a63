package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
)

// The pass kinds and results the metrics are labelled with.
const (
	KindIncremental = "incremental"
	KindFull        = "full"

	ResultSucceeded   = "succeeded"
	ResultFailed      = "failed"
	ResultInterrupted = "interrupted"
)

// The sides of a pass whose traffic is counted.
const (
	SideSource = "source"
	SideTarget = "target"
)

// outcomes are always exported, at 0 when the last pass had none, so a
// dashboard's series do not vanish.
var outcomes = []licensing.Outcome{licensing.WouldProvision, licensing.Provisioned, licensing.AlreadyProvisioned, licensing.Drift, licensing.Skipped, licensing.Failed}

// Metrics counts passes and keeps the last completed pass's figures, on a
// registry of its own so that tests and several services never share state.
type Metrics struct {
	reg         *prometheus.Registry
	passes      *prometheus.CounterVec
	duration    prometheus.Histogram
	inProgress  prometheus.Gauge
	lastSuccess prometheus.Gauge
	lastUsers   *prometheus.GaugeVec
	lastCauses  *prometheus.GaugeVec
	requests    *prometheus.CounterVec
	retries     *prometheus.CounterVec
	throttled   *prometheus.CounterVec
	standing    *prometheus.GaugeVec
	toLicence   prometheus.Histogram
	handler     http.Handler
	// collectors are every series, for a registry of several
	// organisations' services (Orgs).
	collectors []prometheus.Collector

	mu        sync.Mutex
	successTS float64   // what lastSuccess shows, so it only moves forward
	oldest    time.Time // when the oldest standing failure began
	now       func() time.Time
}

// NewMetrics returns metrics with every pass kind and result at zero.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "licensync_passes_total",
			Help: "Passes run by this process, by kind (incremental, full) and result (succeeded, failed, interrupted).",
		}, []string{"kind", "result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "licensync_pass_duration_seconds",
			Help: "How long passes took, whatever their result.",
			// From a small directory's second to a large one's hour.
			Buckets: []float64{1, 5, 15, 60, 300, 900, 3600},
		}),
		inProgress: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "licensync_pass_in_progress", Help: "1 while a pass runs.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "licensync_last_success_timestamp_seconds", Help: "Unix time the last successful pass ended (0: none yet).",
		}),
		lastUsers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "licensync_last_pass_users", Help: "Users of the last completed pass, by outcome.",
		}, []string{"outcome"}),
		lastCauses: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "licensync_last_pass_users_by_cause", Help: "Users of the last completed pass that were not provisioned, by cause.",
		}, []string{"cause"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "licensync_requests_total", Help: "Requests sent to the directory (source: LDAP pages) and to the calling service (target), retries included.",
		}, []string{"side"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "licensync_retries_total", Help: "Requests sent again after a throttle, a server error or a timeout.",
		}, []string{"side"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "licensync_throttled_total", Help: "Requests answered 429 or 423.",
		}, []string{"side"}),
		standing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "licensync_standing_failures", Help: "Users whose latest decision is FAILED, whichever pass made it, by cause.",
		}, []string{"cause"}),
		toLicence: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "licensync_time_to_licence_seconds",
			Help: "Time from a user's first sighting to their licence, observed as each licence lands.",
			// The promise is one incremental interval (5 minutes by
			// default); the nightly full pass bounds the rest at a day.
			Buckets: []float64{60, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600},
		}),
		now: time.Now,
	}
	oldestAge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "licensync_oldest_failure_age_seconds", Help: "How long the oldest standing failure has lasted (0: none).",
	}, m.oldestAge)
	m.collectors = []prometheus.Collector{m.passes, m.duration, m.inProgress, m.lastSuccess, m.lastUsers, m.lastCauses, m.requests, m.retries, m.throttled,
		m.standing, m.toLicence, oldestAge}
	m.reg.MustRegister(m.collectors...)
	for _, c := range licensing.Causes {
		if !c.SkipReason() {
			m.standing.WithLabelValues(string(c))
		}
	}
	for _, side := range []string{SideSource, SideTarget} {
		m.requests.WithLabelValues(side)
		m.retries.WithLabelValues(side)
		m.throttled.WithLabelValues(side)
	}
	for _, kind := range []string{KindIncremental, KindFull} {
		for _, result := range []string{ResultSucceeded, ResultFailed, ResultInterrupted} {
			m.passes.WithLabelValues(kind, result)
		}
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// Start notes that a pass began.
func (m *Metrics) Start() { m.inProgress.Set(1) }

// Observe records a finished pass. sum is the pass's summary when it
// completed (nil otherwise); ended is when it did, for the last success.
func (m *Metrics) Observe(kind, result string, took time.Duration, sum *pass.Summary, ended time.Time) {
	m.inProgress.Set(0)
	m.passes.WithLabelValues(kind, result).Inc()
	m.duration.Observe(took.Seconds())
	if sum != nil {
		for _, o := range outcomes {
			m.lastUsers.WithLabelValues(string(o)).Set(float64(sum.Outcomes[string(o)]))
		}
		m.lastCauses.Reset()
		for c, n := range sum.Causes {
			m.lastCauses.WithLabelValues(c).Set(float64(n))
		}
	}
	if result == ResultSucceeded {
		m.setSuccess(ended)
	}
}

// AddTraffic counts one pass's requests to one side, whatever the pass's
// result: a pass that failed on 429s is the one whose traffic matters.
func (m *Metrics) AddTraffic(side string, requests, retries, throttled int64) {
	m.requests.WithLabelValues(side).Add(float64(requests))
	m.retries.WithLabelValues(side).Add(float64(retries))
	m.throttled.WithLabelValues(side).Add(float64(throttled))
}

// Refresh reads the standing failures from the state store, whichever
// pass decided them, and, when res is a completed pass, the time each user
// that pass licensed waited since their first sighting.
func (m *Metrics) Refresh(ctx context.Context, store *pass.Store, res *pass.Result) error {
	st, err := store.StandingFailures(ctx)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	m.standing.Reset()
	for _, c := range licensing.Causes {
		if !c.SkipReason() {
			m.standing.WithLabelValues(string(c))
		}
	}
	for c, n := range st.Causes {
		m.standing.WithLabelValues(string(c)).Set(float64(n))
	}
	m.mu.Lock()
	m.oldest = st.Oldest
	m.mu.Unlock()
	if res == nil {
		return nil
	}
	delays, err := store.LicenceDelays(ctx, res.Run.ID)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	for _, d := range delays {
		m.toLicence.Observe(max(d, 0).Seconds())
	}
	return nil
}

func (m *Metrics) oldestAge() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.oldest.IsZero() {
		return 0
	}
	return max(m.now().Sub(m.oldest), 0).Seconds()
}

// SetLastSuccess seeds the last success time, from the state store at start.
func (m *Metrics) SetLastSuccess(t time.Time) { m.setSuccess(t) }

func (m *Metrics) setSuccess(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ts := float64(t.UnixMilli()) / 1000; !t.IsZero() && ts > m.successTS {
		m.successTS = ts
		m.lastSuccess.Set(ts)
	}
}

// WriteTo writes the metrics in the Prometheus text exposition format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	families, err := m.reg.Gather()
	if err != nil {
		return 0, err
	}
	cw := &countingWriter{w: w}
	enc := expfmt.NewEncoder(cw, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return cw.n, err
		}
	}
	return cw.n, nil
}

// ServeHTTP serves the metrics.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
