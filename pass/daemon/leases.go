package daemon

import (
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Leadership is what a replica sharing a PostgreSQL state store knows of
// the organisations it leads, for /readyz and /metrics: which, under which
// epoch, and how often it took a lease.
type Leadership struct {
	mu        sync.Mutex
	leads     map[string]int64
	leader    *prometheus.GaugeVec
	takeovers *prometheus.CounterVec
}

// NewLeadership returns a replica's leadership of orgs, none led yet; the
// service it is given to exports it.
func NewLeadership(orgs []string) *Leadership {
	l := &Leadership{
		leads: map[string]int64{},
		leader: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "licensync_leader", Help: "1 while this replica holds the organisation's lease and runs its passes, 0 while it stands by.",
		}, []string{"org"}),
		takeovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "licensync_takeovers_total", Help: "Times this replica took the organisation's lease, after another replica or an earlier process held it.",
		}, []string{"org"}),
	}
	for _, o := range orgs {
		l.leader.WithLabelValues(o)
		l.takeovers.WithLabelValues(o)
	}
	return l
}

// Gained records that this replica took org's lease at epoch.
func (l *Leadership) Gained(org string, epoch int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leads[org] = epoch
	l.leader.WithLabelValues(org).Set(1)
	l.takeovers.WithLabelValues(org).Inc()
}

// Lost records that this replica no longer leads org.
func (l *Leadership) Lost(org string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.leads, org)
	l.leader.WithLabelValues(org).Set(0)
}

// Leads returns the organisations this replica leads, sorted, with their
// epochs.
func (l *Leadership) Leads() (orgs []string, epochs []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for o := range l.leads {
		orgs = append(orgs, o)
	}
	slices.Sort(orgs)
	for _, o := range orgs {
		epochs = append(epochs, l.leads[o])
	}
	return orgs, epochs
}
