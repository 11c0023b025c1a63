// Package webextest is a Webex organisation behind the documented REST API,
// an httptest server for tests of the client and of the daemon that drives
// it. Only tests import it: it never ships in the binary.
package webextest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// Server is an in-memory Webex organisation behind the documented API:
// people, licences with units, numbers with owners, paging, and faults on
// demand. Tests change its fields between requests while holding Mu.
type Server struct {
	t testing.TB
	// HTTP is the listening server; the API is under HTTP.URL + "/v1".
	HTTP *httptest.Server

	// Mu guards every field below.
	Mu sync.Mutex
	// Tokens are the access tokens the server accepts ("tok-0" at first).
	Tokens map[string]bool
	// RefreshToken, ClientID and ClientSecret are what a refresh must
	// present; a refresh answers a token valid for ExpiresIn seconds.
	RefreshToken string
	ClientID     string
	ClientSecret string
	ExpiresIn    int
	issued       int
	// RefreshExpiresIn is the refresh_token_expires_in a refresh answers
	// with, 0 to leave it out.
	RefreshExpiresIn int
	// OrgID and OrgName are the organisation /people/me and
	// /organizations show.
	OrgID, OrgName string
	// Lacks are the scopes the tokens lack: a request that needs one is
	// answered 403.
	Lacks map[string]bool

	People map[string]*Person // by id
	// Workspaces are kept as the JSON objects the API shows, by id.
	Workspaces map[string]map[string]any
	Licences   []*Licence
	Locations  []Location
	// NoCalling are location ids /locations lists and the telephony API
	// does not: locations Calling is not enabled on.
	NoCalling map[string]bool
	Numbers   []*Number
	// ForeignNext, when set, is the host the locations' next link names.
	ForeignNext string
	// pageMax caps the max a client may ask for.
	pageMax int

	// ThrottleEvery answers every nth authorised request 429.
	ThrottleEvery int
	// RetryAfter is the Retry-After header of a throttled answer.
	RetryAfter string
	// ThrottleStatus is the status of a throttled answer (default 429).
	ThrottleStatus int
	// Limiter, when set, answers 429 to requests over its rate.
	Limiter *rate.Limiter
	// Fail5xx answers the next n authorised requests 503; only those to
	// Fail5xxPath when it is set.
	Fail5xx     int
	Fail5xxPath string
	// Fail5xxMethod, when set, limits the 503s to that method.
	Fail5xxMethod string
	// FailStatus, when set, answers every authorised request with it.
	FailStatus int
	// Deny are licence ids a PATCH leaves out (not added, or not removed),
	// answering 206.
	Deny map[string]bool
	// Bare206 leaves the person's licences out of a 206 answer.
	Bare206 bool
	// Crash maps a person id to what the next PATCH for them does:
	// "drop" applies then closes the connection, "hang" applies then never
	// answers, "500" applies then answers 500, "drop-before" closes the
	// connection without applying.
	Crash map[string]string
	// OnHang, when set, is called as a "hang" crash begins, with Mu free.
	OnHang func()

	// order is the people's ids in listing order, taken as a listing starts.
	order []string
	// OverPaged are the queries of people listings refused for asking for
	// more than MaxCallingPage with callingData; any fails the test.
	OverPaged []string

	n        int
	inFlight int
	// MaxIn is the most requests the server had in flight at once.
	MaxIn int
	// Log is every request, in order of arrival.
	Log []Entry
}

// Entry is one request as the server saw it.
type Entry struct {
	Method, Path, Query string
	Body                string
	Status              int
	// Handled is false for requests refused before reaching the resource
	// (401, injected 429 and 5xx).
	Handled bool
	// Landed is true for a PATCH /licenses/users that changed the person's
	// licences, false for one that found them as asked.
	Landed bool
	// At is when the request arrived.
	At time.Time
}

// Person is a Webex user.
type Person struct {
	ID, Email, Name string
	Licences        []string
	Phone, Location string
}

// Licence is a licence of the organisation with its units.
type Licence struct {
	ID, Name, Sub   string
	Total, Consumed int
	// Status is empty for an active subscription.
	Status string
}

// Number is a telephone number of a location and its owner, if any.
type Number struct {
	Phone, Ext, Location, State string
	OwnerID, OwnerType          string
}

// New starts an empty organisation that accepts the token "tok-0"; it
// stops, and fails t on a client that over-paged, when t ends.
func New(t testing.TB) *Server {
	f := &Server{t: t, Tokens: map[string]bool{"tok-0": true}, People: map[string]*Person{},
		pageMax: 2000, RetryAfter: "0", Deny: map[string]bool{}, Crash: map[string]string{}, NoCalling: map[string]bool{}, Workspaces: map[string]map[string]any{}}
	f.HTTP = httptest.NewServer(http.HandlerFunc(f.ServeHTTP))
	t.Cleanup(f.HTTP.Close)
	t.Cleanup(func() {
		f.Mu.Lock()
		defer f.Mu.Unlock()
		for _, q := range f.OverPaged {
			t.Errorf("the client listed people with callingData over %d a page: %s", MaxCallingPage, q)
		}
	})
	return f
}

// Org fills the server with two locations, a Calling and a Meetings licence,
// and numbers +1555000NNNN (the first free, at location L1).
func (f *Server) Org(people, numbers, units int) {
	f.Locations = []Location{{ID: "L1", Name: "Berlin"}, {ID: "L2", Name: "Paris"}}
	f.Licences = []*Licence{
		{ID: "CALL", Name: "Webex Calling - Professional", Sub: "S1", Total: units},
		{ID: "MEET", Name: "Meetings 200", Sub: "S1", Total: units},
	}
	for i := range numbers {
		f.Numbers = append(f.Numbers, &Number{Phone: Num(i), Ext: fmt.Sprint(1000 + i), Location: "L1", State: "ACTIVE"})
	}
	for i := range people {
		id := fmt.Sprintf("P%d", i)
		f.People[id] = &Person{ID: id, Email: fmt.Sprintf("user%d@example.com", i), Name: fmt.Sprintf("User %d", i)}
	}
}

func (f *Server) locationName(id string) string {
	for _, l := range f.Locations {
		if l.ID == id {
			return l.Name
		}
	}
	return ""
}

// Num is the i-th number Org creates.
func Num(i int) string { return fmt.Sprintf("+1555%07d", i) }

// Calls returns the logged requests matching method and path that reached
// the resource.
func (f *Server) Calls(method, path string) []Entry {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	var out []Entry
	for _, e := range f.Log {
		if e.Method == method && e.Path == path && e.Handled {
			out = append(out, e)
		}
	}
	return out
}

// Licence is the licence of an id, nil if there is none.
func (f *Server) Licence(id string) *Licence {
	for _, l := range f.Licences {
		if l.ID == id {
			return l
		}
	}
	return nil
}

// Number is the number phone, nil if the organisation has none.
func (f *Server) Number(phone string) *Number {
	for _, n := range f.Numbers {
		if n.Phone == phone {
			return n
		}
	}
	return nil
}

// WriteJSON answers v as the API does, with a tracking id.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Trackingid", "ROUTER_fake")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// APIError is an error body as the API shows it.
func APIError(msg string, code int, desc string) map[string]any {
	return map[string]any{"message": msg, "trackingId": "NA_fake-track",
		"errors": []map[string]any{{"errorCode": code, "description": desc}}}
}

// ServeHTTP answers one request and logs it.
func (f *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil {
		body = make([]byte, 0, 256)
		buf := make([]byte, 4096)
		for {
			n, err := r.Body.Read(buf)
			body = append(body, buf[:n]...)
			if err != nil {
				break
			}
		}
	}
	at := time.Now()
	path := strings.TrimPrefix(r.URL.Path, "/v1")
	rec := &statusRecorder{ResponseWriter: w}
	f.Mu.Lock()
	f.inFlight++
	f.MaxIn = max(f.MaxIn, f.inFlight)
	// The Entry is logged on arrival, so a request still hanging shows.
	rec.idx = len(f.Log)
	f.Log = append(f.Log, Entry{Method: r.Method, Path: path, Query: r.URL.RawQuery, Body: string(body), At: at})
	f.Mu.Unlock()
	defer func() {
		f.Mu.Lock()
		f.inFlight--
		f.Log[rec.idx].Status, f.Log[rec.idx].Handled = rec.status, rec.handled
		f.Mu.Unlock()
	}()
	f.route(rec, r, path, body)
}

type statusRecorder struct {
	http.ResponseWriter
	status  int
	handled bool
	// idx is the request's Entry in the log.
	idx int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Hijack() (c interface{ Close() error }, err error) {
	hc, _, err := http.NewResponseController(s.ResponseWriter).Hijack()
	return hc, err
}

func (f *Server) route(w *statusRecorder, r *http.Request, path string, body []byte) {
	if path == "/access_token" {
		w.handled = true
		f.token(w, r, body)
		return
	}
	f.Mu.Lock()
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !f.Tokens[tok] {
		f.Mu.Unlock()
		WriteJSON(w, http.StatusUnauthorized, map[string]any{"message": "The request requires a valid access token set in the Authorization request header.", "trackingId": "NA_401"})
		return
	}
	f.n++
	if (f.Limiter != nil && !f.Limiter.Allow()) || (f.ThrottleEvery > 0 && f.n%f.ThrottleEvery == 0) {
		f.Mu.Unlock()
		w.Header().Set("Retry-After", f.RetryAfter)
		WriteJSON(w, cmp.Or(f.ThrottleStatus, http.StatusTooManyRequests), map[string]any{"message": "Too Many Requests"})
		return
	}
	if f.Fail5xx > 0 && (f.Fail5xxPath == "" || f.Fail5xxPath == path) && (f.Fail5xxMethod == "" || f.Fail5xxMethod == r.Method) {
		f.Fail5xx--
		f.Mu.Unlock()
		WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"message": "Service Unavailable", "trackingId": "NA_503"})
		return
	}
	defer f.Mu.Unlock()
	if f.FailStatus != 0 {
		WriteJSON(w, f.FailStatus, APIError("Forbidden", 0, "the token lacks spark-admin:licenses_read"))
		return
	}
	if scope := scopeOf(r.Method, path); f.Lacks[scope] {
		WriteJSON(w, http.StatusForbidden, APIError("The server understood the request, but refused to fulfill it because the access token is missing required scopes or the user is missing required roles or licenses.", 0, ""))
		return
	}
	// Marked in the log now, under the lock: a dropped connection lets the
	// client go on before this handler returns.
	w.handled = true
	f.Log[w.idx].Handled = true
	switch {
	case r.Method == http.MethodGet && path == "/licenses":
		var items []licenceJSON
		for _, l := range f.Licences {
			items = append(items, licenceJSON{ID: l.ID, Name: l.Name, TotalUnits: l.Total, ConsumedUnits: l.Consumed, SubscriptionID: l.Sub, Status: l.Status})
		}
		WriteJSON(w, http.StatusOK, map[string]any{"items": items})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/licenses/"):
		f.licenceUsers(w, r, strings.TrimPrefix(path, "/licenses/"))
	case r.Method == http.MethodGet && path == "/locations":
		WriteJSON(w, http.StatusOK, map[string]any{"items": f.Locations})
	case r.Method == http.MethodGet && path == "/telephony/config/locations":
		f.locationsPage(w, r)
	case r.Method == http.MethodGet && path == "/telephony/config/numbers":
		f.numbersPage(w, r)
	case r.Method == http.MethodGet && path == "/people":
		q := r.URL.Query()
		if q.Get("callingData") == "true" && q.Get("max") != "" {
			if n, err := strconv.Atoi(q.Get("max")); err != nil || n > MaxCallingPage {
				f.OverPaged = append(f.OverPaged, r.URL.RawQuery)
				WriteJSON(w, http.StatusBadRequest, APIError("Invalid max value", 0, "max cannot be more than 100 when callingData is true"))
				return
			}
		}
		if !q.Has("email") {
			f.listPeople(w, r)
			return
		}
		var items []map[string]any
		email := q.Get("email")
		for _, p := range f.People {
			if strings.EqualFold(p.Email, email) {
				items = append(items, f.personJSON(p, q.Get("callingData") == "true"))
			}
		}
		WriteJSON(w, http.StatusOK, map[string]any{"items": items})
	case r.Method == http.MethodGet && path == "/people/me":
		WriteJSON(w, http.StatusOK, map[string]any{"id": "ADMIN", "emails": []string{"admin@example.com"}, "displayName": "Admin", "orgId": cmp.Or(f.OrgID, "ORG-1")})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/organizations/"):
		if id := strings.TrimPrefix(path, "/organizations/"); id != cmp.Or(f.OrgID, "ORG-1") {
			WriteJSON(w, http.StatusNotFound, APIError("Organization not found", 0, ""))
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{"id": cmp.Or(f.OrgID, "ORG-1"), "displayName": cmp.Or(f.OrgName, "Example Org")})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/people/"):
		p := f.People[strings.TrimPrefix(path, "/people/")]
		if p == nil {
			WriteJSON(w, http.StatusNotFound, APIError("Person not found", 0, ""))
			return
		}
		WriteJSON(w, http.StatusOK, f.personJSON(p, r.URL.Query().Get("callingData") == "true"))
	case r.Method == http.MethodGet && path == "/workspaces":
		var items []map[string]any
		for _, id := range slices.Sorted(maps.Keys(f.Workspaces)) {
			w := f.Workspaces[id]
			if r.URL.Query().Get("calling") == "" || w["calling"].(map[string]any)["type"] == r.URL.Query().Get("calling") {
				items = append(items, map[string]any{"id": w["id"], "displayName": w["displayName"]})
			}
		}
		WriteJSON(w, http.StatusOK, map[string]any{"items": items})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/workspaces/"):
		ws, ok := f.Workspaces[strings.TrimPrefix(path, "/workspaces/")]
		if !ok {
			WriteJSON(w, http.StatusNotFound, APIError("Workspace not found", 0, ""))
			return
		}
		WriteJSON(w, http.StatusOK, ws)
	case r.Method == http.MethodPut && strings.HasPrefix(path, "/workspaces/"):
		f.putWorkspace(w, strings.TrimPrefix(path, "/workspaces/"), body)
	case r.Method == http.MethodPatch && path == "/licenses/users":
		f.patch(r.Context(), w, body)
	default:
		WriteJSON(w, http.StatusNotFound, map[string]any{"message": "no such resource"})
	}
}

// listPeople is GET /people without a filter: every person, in pages of at
// most 1000 (100 with callingData) under an opaque cursor.
func (f *Server) listPeople(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	calling := q.Get("callingData") == "true"
	size, _ := strconv.Atoi(q.Get("max"))
	if size <= 0 {
		size = 100
	}
	size = min(size, 1000)
	cursor := q.Get("cursor")
	if cursor == "" || len(f.order) != len(f.People) {
		f.order = slices.Sorted(maps.Keys(f.People))
	}
	start, _ := strconv.Atoi(strings.TrimPrefix(cursor, "p"))
	start = min(start, len(f.order))
	end := min(start+size, len(f.order))
	items := make([]map[string]any, 0, end-start)
	for _, id := range f.order[start:end] {
		items = append(items, f.personJSON(f.People[id], calling))
	}
	if end < len(f.order) {
		q.Set("cursor", fmt.Sprintf("p%d", end))
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, f.HTTP.URL, r.URL.Path, q.Encode()))
	}
	WriteJSON(w, http.StatusOK, map[string]any{"items": items})
}

// isCallingName reports whether a licence name is a Calling one, in
// whatever case the organisation writes it.
func isCallingName(name string) bool { return strings.Contains(strings.ToLower(name), "calling") }

// MaxCallingPage is the largest max the people API takes with callingData.
const MaxCallingPage = 100

// personJSON is a person as the API shows them with callingData: the Calling
// number formatted for reading, as the reference's examples show it, among
// the other entries a Calling user has (extension, enterprise number, an
// alternate number) placed before it.
func (f *Server) personJSON(p *Person, callingData bool) map[string]any {
	j := map[string]any{"id": p.ID, "emails": []string{p.Email}, "displayName": p.Name, "licenses": slices.Clone(p.Licences)}
	if !callingData {
		// Without Calling data a person shows what the directory synced,
		// which is no Calling number.
		j["phoneNumbers"] = []map[string]any{{"type": "mobile", "value": Formatted("+15559990001")}}
		return j
	}
	if p.Location != "" {
		j["locationId"] = p.Location
	}
	if p.Phone != "" {
		var ext string
		if n := f.Number(p.Phone); n != nil {
			ext = n.Ext
		}
		j["phoneNumbers"] = []map[string]any{
			{"type": "work_extension", "value": ext},
			{"type": "enterprise", "value": "8" + ext},
			{"type": "alternate1", "value": Formatted("+15559990000")},
			{"type": "work", "value": Formatted(p.Phone), "primary": true},
			{"type": "mobile", "value": Formatted("+15559990001")},
		}
		j["extension"] = ext
	}
	return j
}

// Formatted spaces an E.164 number out as the reference's examples do:
// "+1 408 526 7209" for a NANP number, "+CC NN NNNN..." otherwise.
func Formatted(e164 string) string {
	d := strings.TrimPrefix(e164, "+")
	if len(d) == 11 && d[0] == '1' {
		return "+1 " + d[1:4] + " " + d[4:7] + " " + d[7:]
	}
	if len(d) < 6 {
		return e164
	}
	return "+" + d[:2] + " " + d[2:4] + " " + d[4:]
}

func (f *Server) token(w http.ResponseWriter, r *http.Request, body []byte) {
	form, _ := url.ParseQuery(string(body))
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if r.Method != http.MethodPost || form.Get("grant_type") != "refresh_token" || f.RefreshToken == "" ||
		form.Get("refresh_token") != f.RefreshToken || form.Get("client_id") != f.ClientID || form.Get("client_secret") != f.ClientSecret {
		WriteJSON(w, http.StatusBadRequest, map[string]any{"message": "invalid_grant"})
		return
	}
	f.issued++
	tok := fmt.Sprintf("tok-%d", f.issued)
	f.Tokens[tok] = true
	f.RefreshToken = fmt.Sprintf("ref-%d", f.issued)
	answer := map[string]any{"access_token": tok, "expires_in": f.ExpiresIn, "refresh_token": f.RefreshToken}
	if f.RefreshExpiresIn > 0 {
		answer["refresh_token_expires_in"] = f.RefreshExpiresIn
	}
	WriteJSON(w, http.StatusOK, answer)
}

// scopeOf is the scope the Webex API asks of a token for a request.
func scopeOf(method, path string) string {
	switch {
	case method == http.MethodPatch && path == "/licenses/users", method == http.MethodPut && strings.HasPrefix(path, "/people/"):
		return "spark-admin:people_write"
	case path == "/people/me":
		return ""
	case strings.HasPrefix(path, "/people"):
		return "spark-admin:people_read"
	case strings.HasPrefix(path, "/licenses"):
		return "spark-admin:licenses_read"
	case strings.HasPrefix(path, "/locations"):
		return "spark-admin:locations_read"
	case strings.HasPrefix(path, "/telephony/config"):
		return "spark-admin:telephony_config_read"
	case strings.HasPrefix(path, "/organizations"):
		return "spark-admin:organizations_read"
	}
	return ""
}

// locationsPage pages with an opaque cursor, so only a client that follows
// the Link header as given reads every page.
func (f *Server) locationsPage(w http.ResponseWriter, r *http.Request) {
	start := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		start, _ = strconv.Atoi(strings.TrimPrefix(c, "c"))
	}
	var calling []Location
	for _, l := range f.Locations {
		if !f.NoCalling[l.ID] {
			calling = append(calling, l)
		}
	}
	start = min(start, len(calling))
	end := min(start+1, len(calling))
	host := f.HTTP.URL
	if f.ForeignNext != "" {
		host = f.ForeignNext
	}
	if end < len(calling) {
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?cursor=c%d>; rel="next"`, host, r.URL.Path, end))
	}
	WriteJSON(w, http.StatusOK, map[string]any{"locations": calling[start:end]})
}

// licenceUsers is GET /licenses/{id}?includeAssignedTo=user: the licence
// with a page of its users, the next page through a Link header.
func (f *Server) licenceUsers(w http.ResponseWriter, r *http.Request, id string) {
	l := f.Licence(id)
	if l == nil {
		WriteJSON(w, http.StatusNotFound, APIError("License not found", 0, id))
		return
	}
	ans := map[string]any{"id": l.ID, "name": l.Name, "totalUnits": l.Total, "consumedUnits": l.Consumed, "subscriptionId": l.Sub}
	q := r.URL.Query()
	if q.Get("includeAssignedTo") != "user" {
		WriteJSON(w, http.StatusOK, ans)
		return
	}
	var holders []*Person
	for _, p := range f.People {
		if slices.Contains(p.Licences, id) {
			holders = append(holders, p)
		}
	}
	slices.SortFunc(holders, func(a, b *Person) int { return cmp.Compare(a.ID, b.ID) })
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 300 {
		limit = 300
	}
	start, _ := strconv.Atoi(strings.TrimPrefix(q.Get("next"), "n"))
	start = min(start, len(holders))
	end := min(start+limit, len(holders))
	var users []map[string]string
	for _, p := range holders[start:end] {
		users = append(users, map[string]string{"id": p.ID, "type": "INTERNAL", "displayName": p.Name, "email": p.Email})
	}
	if end < len(holders) {
		q.Set("next", fmt.Sprintf("n%d", end))
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, f.HTTP.URL, r.URL.Path, q.Encode()))
	}
	ans["users"] = users
	WriteJSON(w, http.StatusOK, ans)
}

func (f *Server) numbersPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, _ := strconv.Atoi(q.Get("start"))
	size, _ := strconv.Atoi(q.Get("max"))
	if size <= 0 || size > f.pageMax {
		size = min(f.pageMax, 100)
	}
	start = min(start, len(f.Numbers))
	end := min(start+size, len(f.Numbers))
	var items []map[string]any
	for _, n := range f.Numbers[start:end] {
		it := map[string]any{"phoneNumber": n.Phone, "extension": n.Ext, "state": n.State, "location": map[string]string{"id": n.Location, "name": f.locationName(n.Location)}}
		if n.OwnerID != "" {
			it["owner"] = map[string]string{"id": n.OwnerID, "type": n.OwnerType}
		}
		items = append(items, it)
	}
	if end < len(f.Numbers) {
		q.Set("start", strconv.Itoa(end))
		q.Set("max", strconv.Itoa(size))
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, f.HTTP.URL, r.URL.Path, q.Encode()))
	}
	WriteJSON(w, http.StatusOK, map[string]any{"phoneNumbers": items})
}

// patch applies PATCH /licenses/users; f.Mu is held.
func (f *Server) patch(ctx context.Context, w *statusRecorder, body []byte) {
	var b patchBody
	if err := json.Unmarshal(body, &b); err != nil {
		WriteJSON(w, http.StatusBadRequest, APIError("bad body", 0, err.Error()))
		return
	}
	var p *Person
	for _, x := range f.People {
		if (b.PersonID != "" && x.ID == b.PersonID) || (b.PersonID == "" && strings.EqualFold(x.Email, b.Email)) {
			p = x
		}
	}
	if p == nil {
		WriteJSON(w, http.StatusNotFound, APIError("Person not found", 0, "User not found"))
		return
	}
	crash := f.Crash[p.ID]
	delete(f.Crash, p.ID)
	if crash == "drop-before" {
		f.drop(w)
		return
	}
	// Validate every licence first: a refusal applies nothing.
	var add, remove []licenceOp
	for _, op := range b.Licenses {
		l := f.Licence(op.ID)
		switch {
		case l == nil:
			WriteJSON(w, http.StatusBadRequest, APIError("License assignment failed", 400000, "License not recognized "+op.ID))
			return
		case op.Operation == "remove":
			if slices.Contains(p.Licences, op.ID) && !f.Deny[op.ID] {
				remove = append(remove, op)
			}
			continue
		case op.Operation != "add":
			WriteJSON(w, http.StatusBadRequest, APIError("License assignment failed", 0, "operation must be add or remove"))
			return
		case slices.Contains(p.Licences, op.ID) || f.Deny[op.ID]:
			continue
		case l.Status != "" && l.Status != "ACTIVE":
			WriteJSON(w, http.StatusBadRequest, APIError("License assignment failed", 400413, "The subscription of "+l.Name+" is "+strings.ToLower(l.Status)))
			return
		case l.Consumed >= l.Total:
			WriteJSON(w, http.StatusBadRequest, APIError("License assignment failed", 400300, "Insufficient licenses: no available units of "+l.Name))
			return
		}
		if isCallingName(l.Name) {
			pr := op.Properties
			if pr == nil || pr.LocationID == "" {
				WriteJSON(w, http.StatusBadRequest, APIError("License assignment failed", 400411, "Each Webex Calling license should contain its own calling properties. The following license(s) do not have properties: "+op.ID))
				return
			}
			if !slices.ContainsFunc(f.Locations, func(l Location) bool { return l.ID == pr.LocationID }) || f.NoCalling[pr.LocationID] {
				WriteJSON(w, http.StatusBadRequest, APIError("License assignment failed", 400, "Unable to find location."))
				return
			}
			if pr.PhoneNumber != "" {
				n := f.Number(pr.PhoneNumber)
				switch {
				case n == nil || n.Location != pr.LocationID:
					WriteJSON(w, http.StatusBadRequest, APIError("License assignment failed", 400, "Unable to find location."))
					return
				case n.OwnerID != "" && n.OwnerID != p.ID:
					WriteJSON(w, http.StatusBadRequest, APIError("License assignment failed", 400320, "Phone number "+n.Phone+" is already assigned to another user"))
					return
				}
			}
		}
		add = append(add, op)
	}
	after := slices.DeleteFunc(slices.Clone(p.Licences), func(id string) bool {
		return slices.ContainsFunc(remove, func(op licenceOp) bool { return op.ID == id })
	})
	for _, op := range add {
		after = append(after, op.ID)
	}
	calling := 0
	kinds := map[bool]bool{}
	for _, id := range after {
		name := strings.ToLower(f.Licence(id).Name)
		if strings.Contains(name, "calling") && !strings.Contains(name, "workspace") {
			calling++
		}
		if strings.Contains(name, "contact center") {
			kinds[strings.Contains(name, "premium")] = true
		}
	}
	if calling > 1 {
		WriteJSON(w, http.StatusBadRequest, APIError("License assignment failed", 400404, "A user cannot be assigned both Professional and Standard Webex Calling licenses."))
		return
	}
	if len(kinds) > 1 {
		WriteJSON(w, http.StatusBadRequest, APIError("License assignment failed", 0, "A user cannot have both a Standard and a Premium Contact Center agent license."))
		return
	}
	f.Log[w.idx].Landed = len(add)+len(remove) > 0
	removedCalling := false
	for _, op := range remove {
		l := f.Licence(op.ID)
		l.Consumed--
		p.Licences = slices.DeleteFunc(p.Licences, func(id string) bool { return id == op.ID })
		if isCallingName(l.Name) {
			removedCalling = true
		}
	}
	addedCalling := false
	for _, op := range add {
		f.Licence(op.ID).Consumed++
		p.Licences = append(p.Licences, op.ID)
		if pr := op.Properties; pr != nil {
			addedCalling = true
			if n := f.Number(p.Phone); n != nil && p.Phone != pr.PhoneNumber && n.OwnerID == p.ID {
				n.OwnerID, n.OwnerType = "", ""
			}
			p.Location, p.Phone = pr.LocationID, pr.PhoneNumber
			if n := f.Number(pr.PhoneNumber); n != nil {
				n.OwnerID, n.OwnerType = p.ID, "PEOPLE"
			}
		}
	}
	if removedCalling && !addedCalling {
		if n := f.Number(p.Phone); n != nil && n.OwnerID == p.ID {
			n.OwnerID, n.OwnerType = "", ""
		}
		p.Phone, p.Location = "", ""
	}
	switch crash {
	case "drop":
		f.drop(w)
		return
	case "500":
		WriteJSON(w, http.StatusInternalServerError, map[string]any{"message": "Internal Server Error", "trackingId": "NA_500"})
		return
	case "hang":
		f.Log[w.idx].Handled = true
		f.Mu.Unlock()
		if f.OnHang != nil {
			f.OnHang()
		}
		<-ctx.Done()
		f.Mu.Lock()
		return
	}
	// A 206 carries the person as a 200 does and no per-licence error list:
	// what failed is what was asked for and is not in licenses.
	status := http.StatusOK
	ans := map[string]any{"orgId": "ORG", "personId": p.ID, "email": p.Email, "licenses": p.Licences}
	for _, op := range b.Licenses {
		if f.Deny[op.ID] {
			status = http.StatusPartialContent
		}
	}
	if status == http.StatusPartialContent && f.Bare206 {
		delete(ans, "licenses")
	}
	WriteJSON(w, status, ans)
}

// Workspace adds a Webex Calling workspace holding lic, with a calendar the
// client must send back untouched.
func (f *Server) Workspace(id, name, lic, phone, ext, loc string) {
	f.Workspaces[id] = map[string]any{"id": id, "orgId": "ORG", "displayName": name, "created": "2026-01-01T00:00:00Z",
		"calendar": map[string]any{"type": "microsoft", "emailAddress": name + "@example.com"},
		"calling":  map[string]any{"type": "webexCalling", "webexCalling": map[string]any{"phoneNumber": phone, "extension": ext, "locationId": loc, "licenses": []any{lic}}}}
}

// putWorkspace replaces a workspace (f.Mu is held): the licence list is
// checked as the service does, and units move with it.
func (f *Server) putWorkspace(w *statusRecorder, id string, body []byte) {
	old, ok := f.Workspaces[id]
	if !ok {
		WriteJSON(w, http.StatusNotFound, APIError("Workspace not found", 0, ""))
		return
	}
	var nu map[string]any
	if err := json.Unmarshal(body, &nu); err != nil {
		WriteJSON(w, http.StatusBadRequest, APIError("bad body", 0, err.Error()))
		return
	}
	for _, k := range []string{"id", "orgId", "created"} {
		if _, ok := nu[k]; ok {
			WriteJSON(w, http.StatusBadRequest, APIError("Invalid request", 0, k+" cannot be set"))
			return
		}
	}
	licsOf := func(ws map[string]any) []string {
		var out []string
		c, _ := ws["calling"].(map[string]any)
		wc, _ := c["webexCalling"].(map[string]any)
		ls, _ := wc["licenses"].([]any)
		for _, l := range ls {
			out = append(out, l.(string))
		}
		return out
	}
	before, after := licsOf(old), licsOf(nu)
	calling := 0
	for _, l := range after {
		lic := f.Licence(l)
		switch {
		case lic == nil:
			WriteJSON(w, http.StatusBadRequest, APIError("Invalid license", 0, "License not recognized "+l))
			return
		case !slices.Contains(before, l) && lic.Consumed >= lic.Total:
			WriteJSON(w, http.StatusBadRequest, APIError("Invalid license", 400300, "Insufficient licenses: no available units of "+lic.Name))
			return
		}
		if isCallingName(lic.Name) {
			calling++
		}
	}
	if calling != 1 {
		WriteJSON(w, http.StatusBadRequest, APIError("Invalid license", 0, "A Webex Calling workspace needs exactly one Calling license"))
		return
	}
	for _, l := range before {
		if !slices.Contains(after, l) {
			f.Licence(l).Consumed--
		}
	}
	for _, l := range after {
		if !slices.Contains(before, l) {
			f.Licence(l).Consumed++
		}
	}
	nu["id"], nu["orgId"], nu["created"] = old["id"], old["orgId"], old["created"]
	f.Workspaces[id] = nu
	WriteJSON(w, http.StatusOK, nu)
}

// drop closes the connection without an answer.
func (f *Server) drop(w *statusRecorder) {
	c, err := w.Hijack()
	if err != nil {
		f.t.Errorf("hijack: %v", err)
		return
	}
	w.status = -1
	_ = c.Close()
}

// Location is a location as /locations shows it.
type Location struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// licenceJSON is a licence as /licenses shows it.
type licenceJSON struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	TotalUnits     int    `json:"totalUnits"`
	ConsumedUnits  int    `json:"consumedUnits"`
	SubscriptionID string `json:"subscriptionId"`
	Status         string `json:"status"`
}

// patchBody is the body of PATCH /licenses/users.
type patchBody struct {
	Email    string      `json:"email,omitempty"`
	PersonID string      `json:"personId,omitempty"`
	OrgID    string      `json:"orgId,omitempty"`
	Licenses []licenceOp `json:"licenses"`
}

type licenceOp struct {
	ID         string        `json:"id"`
	Operation  string        `json:"operation"`
	Properties *callingProps `json:"properties,omitempty"`
}

type callingProps struct {
	LocationID  string `json:"locationId,omitempty"`
	PhoneNumber string `json:"phoneNumber,omitempty"`
	Extension   string `json:"extension,omitempty"`
}
