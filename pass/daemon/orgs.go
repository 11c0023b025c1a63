package daemon

import (
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/licensync/licensync/pass/daemon/console"
)

// Orgs is the services of several organisations behind one listener: each
// organisation has its own scheduler, passes and metrics (a Service), and
// the replica's leadership says which of them it leads.
type Orgs struct {
	log      *zap.Logger
	names    []string
	services map[string]*Service
	handlers map[string]http.Handler
	lead     *Leadership
	metrics  http.Handler
}

// NewOrgs serves services, keyed by organisation name, with lead, the
// replica's leadership (nil on a store no replicas share). The services
// are given no Leadership of their own: /metrics labels each service's
// series with its organisation. Services with a console (Options.Console
// with Base /orgs/NAME and API /api/v1/orgs/NAME) are served by one
// console.Orgs at every other path.
func NewOrgs(services map[string]*Service, lead *Leadership) *Orgs {
	o := &Orgs{services: services, handlers: map[string]http.Handler{}, lead: lead, log: zap.NewNop()}
	reg := prometheus.NewRegistry()
	for name, s := range services {
		o.names = append(o.names, name)
		s.orgsLead = lead
		o.handlers[name] = s.Handler()
		prometheus.WrapRegistererWith(prometheus.Labels{"org": name}, reg).MustRegister(s.metrics.collectors...)
		o.log = s.o.Log
	}
	slices.Sort(o.names)
	if lead != nil {
		reg.MustRegister(lead.leader, lead.takeovers)
	}
	o.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return o
}

// Handler serves GET /healthz, GET /readyz and GET /metrics for every
// organisation, and POST /v1/passes?org=NAME[&full=true] to the named
// organisation's service.
func (o *Orgs) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		var running []string
		for _, n := range o.names {
			if o.services[n].sched.Running() {
				running = append(running, n)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "alive", "pass_running": len(running) > 0, "passes_running": orEmpty(running)})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		// Ready once every organisation this replica leads (every one,
		// on a store no replicas share) has a successful pass to stand on.
		led := o.names
		var leads []map[string]any
		if o.lead != nil {
			var epochs []int64
			led, epochs = o.lead.Leads()
			for i := range led {
				leads = append(leads, map[string]any{"org": led[i], "epoch": epochs[i]})
			}
		}
		var waiting []string
		for _, n := range led {
			if s := o.services[n]; s != nil && !s.Ready() {
				waiting = append(waiting, n)
			}
		}
		body := map[string]any{"status": "ready", "orgs": o.names}
		if o.lead != nil {
			body["leads"] = orEmpty(leads)
		}
		code := http.StatusOK
		if len(waiting) > 0 {
			code = http.StatusServiceUnavailable
			body["status"] = "not ready: no pass has succeeded yet for " + strings.Join(waiting, ", ")
		}
		writeJSON(w, code, body)
	})
	mux.Handle("GET /metrics", o.metrics)
	mux.HandleFunc("POST /v1/passes", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("org")
		h, ok := o.handlers[name]
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "name the organisation: ?org=NAME, one of " + strings.Join(o.names, ", ")})
			return
		}
		h.ServeHTTP(w, r)
	})
	var consoles []console.OrgConsole
	for _, n := range o.names {
		if c := o.services[n].console; c != nil {
			consoles = append(consoles, console.OrgConsole{Name: n, Console: c})
		}
	}
	if len(consoles) > 0 {
		c, err := console.NewOrgs(consoles)
		if err != nil {
			o.log.Error("console not served", zap.Error(err))
			return mux
		}
		mux.Handle("/", c)
	}
	return mux
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
