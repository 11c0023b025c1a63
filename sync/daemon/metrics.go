package daemon

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/licensync/licensync/licensing"
	licsync "github.com/licensync/licensync/sync"
)

// The pass kinds and results the metrics are labelled with.
const (
	KindIncremental = "incremental"
	KindFull        = "full"

	ResultSucceeded   = "succeeded"
	ResultFailed      = "failed"
	ResultInterrupted = "interrupted"
)

// durationBuckets are the upper bounds, in seconds, of the pass duration
// histogram: from a small directory's second to a large one's hour.
var durationBuckets = []float64{1, 5, 15, 60, 300, 900, 3600}

// outcomes are always exported, at 0 when the last pass had none, so a
// dashboard's series do not vanish.
var outcomes = []licensing.Outcome{licensing.WouldProvision, licensing.Provisioned, licensing.AlreadyProvisioned, licensing.Drift, licensing.Skipped, licensing.Failed}

// Metrics counts passes and keeps the last completed pass's figures, and
// serves them in the Prometheus text format. It is written by hand, not with
// client_golang, to keep the binary's dependencies to the ones go.sum holds.
type Metrics struct {
	mu          sync.Mutex
	passes      map[[2]string]int // kind, result
	buckets     []int             // cumulative counts, one per durationBuckets
	durSum      float64
	durCount    int
	last        *licsync.Summary
	lastSuccess time.Time
	inProgress  bool
}

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics {
	return &Metrics{passes: map[[2]string]int{}, buckets: make([]int, len(durationBuckets))}
}

// Start notes that a pass began.
func (m *Metrics) Start() {
	m.mu.Lock()
	m.inProgress = true
	m.mu.Unlock()
}

// Observe records a finished pass. sum is the pass's summary when it
// completed (nil otherwise); ended is when it did, for the last success.
func (m *Metrics) Observe(kind, result string, took time.Duration, sum *licsync.Summary, ended time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inProgress = false
	m.passes[[2]string{kind, result}]++
	secs := took.Seconds()
	for i, le := range durationBuckets {
		if secs <= le {
			m.buckets[i]++
		}
	}
	m.durSum += secs
	m.durCount++
	if sum != nil {
		m.last = sum
	}
	if result == ResultSucceeded {
		m.lastSuccess = ended
	}
}

// SetLastSuccess seeds the last success time, from the state store at start.
func (m *Metrics) SetLastSuccess(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.After(m.lastSuccess) {
		m.lastSuccess = t
	}
}

// WriteTo writes the metrics in the Prometheus text exposition format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cw := &countingWriter{w: bufio.NewWriter(w)}
	family := func(name, typ, help string) {
		fmt.Fprintf(cw, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}

	family("licensync_passes_total", "counter", "Passes run by this process, by kind (incremental, full) and result (succeeded, failed, interrupted).")
	for _, kind := range []string{KindIncremental, KindFull} {
		for _, result := range []string{ResultSucceeded, ResultFailed, ResultInterrupted} {
			fmt.Fprintf(cw, "licensync_passes_total{kind=%s,result=%s} %d\n", quote(kind), quote(result), m.passes[[2]string{kind, result}])
		}
	}

	family("licensync_pass_duration_seconds", "histogram", "How long passes took, whatever their result.")
	for i, le := range durationBuckets {
		fmt.Fprintf(cw, "licensync_pass_duration_seconds_bucket{le=%s} %d\n", quote(strconv.FormatFloat(le, 'g', -1, 64)), m.buckets[i])
	}
	fmt.Fprintf(cw, "licensync_pass_duration_seconds_bucket{le=\"+Inf\"} %d\n", m.durCount)
	fmt.Fprintf(cw, "licensync_pass_duration_seconds_sum %s\n", strconv.FormatFloat(m.durSum, 'g', -1, 64))
	fmt.Fprintf(cw, "licensync_pass_duration_seconds_count %d\n", m.durCount)

	family("licensync_pass_in_progress", "gauge", "1 while a pass runs.")
	fmt.Fprintf(cw, "licensync_pass_in_progress %d\n", b2i(m.inProgress))

	family("licensync_last_success_timestamp_seconds", "gauge", "Unix time the last successful pass ended (0: none yet).")
	var ts float64
	if !m.lastSuccess.IsZero() {
		ts = float64(m.lastSuccess.UnixMilli()) / 1000
	}
	fmt.Fprintf(cw, "licensync_last_success_timestamp_seconds %s\n", strconv.FormatFloat(ts, 'f', -1, 64))

	if m.last != nil {
		family("licensync_last_pass_users", "gauge", "Users of the last completed pass, by outcome.")
		for _, o := range outcomes {
			fmt.Fprintf(cw, "licensync_last_pass_users{outcome=%s} %d\n", quote(string(o)), m.last.Outcomes[string(o)])
		}
		family("licensync_last_pass_users_by_cause", "gauge", "Users of the last completed pass that were not provisioned, by cause.")
		causes := make([]string, 0, len(m.last.Causes))
		for c := range m.last.Causes {
			causes = append(causes, c)
		}
		sort.Strings(causes)
		for _, c := range causes {
			fmt.Fprintf(cw, "licensync_last_pass_users_by_cause{cause=%s} %d\n", quote(c), m.last.Causes[c])
		}
	}
	if cw.err == nil {
		cw.err = cw.w.Flush()
	}
	return cw.n, cw.err
}

// ServeHTTP serves the metrics.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = m.WriteTo(w)
}

// quote writes a label value as the exposition format wants it.
func quote(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v) + `"`
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

type countingWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
