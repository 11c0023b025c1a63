package webex

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

// fake is an in-memory Webex organisation behind the documented API: people,
// licences with units, numbers with owners, paging, and faults on demand.
type fake struct {
	t   testing.TB
	srv *httptest.Server

	mu           sync.Mutex
	tokens       map[string]bool
	refreshToken string
	clientID     string
	clientSecret string
	expiresIn    int
	issued       int
	// refreshExpiresIn is the refresh_token_expires_in a refresh answers
	// with, 0 to leave it out.
	refreshExpiresIn int
	// orgID and orgName are the organisation /people/me and
	// /organizations show.
	orgID, orgName string
	// lacks are the scopes the tokens lack: a request that needs one is
	// answered 403.
	lacks map[string]bool

	people map[string]*fakePerson // by id
	// workspaces are kept as the JSON objects the API shows, by id.
	workspaces map[string]map[string]any
	licences   []*fakeLicence
	locations  []locationJSON
	// noCalling are location ids /locations lists and the telephony API
	// does not: locations Calling is not enabled on.
	noCalling map[string]bool
	numbers   []*fakeNumber
	// foreignNext, when set, is the host the locations' next link names.
	foreignNext string
	// pageMax caps the max a client may ask for.
	pageMax int

	// throttleEvery answers every nth authorised request 429.
	throttleEvery int
	retryAfter    string
	// throttleStatus is the status of a throttled answer (default 429).
	throttleStatus int
	// limiter, when set, answers 429 to requests over its rate.
	limiter *rate.Limiter
	// fail5xx answers the next n authorised requests 503; only those to
	// fail5xxPath when it is set.
	fail5xx     int
	fail5xxPath string
	// fail5xxMethod, when set, limits the 503s to that method.
	fail5xxMethod string
	// failStatus, when set, answers every authorised request with it.
	failStatus int
	// deny are licence ids a PATCH leaves out (not added, or not removed),
	// answering 206.
	deny map[string]bool
	// bare206 leaves the person's licences out of a 206 answer.
	bare206 bool
	// crash maps a person id to what the next PATCH for them does:
	// "drop" applies then closes the connection, "hang" applies then never
	// answers, "500" applies then answers 500, "drop-before" closes the
	// connection without applying.
	crash map[string]string
	// onHang, when set, is called as a "hang" crash begins, with f.mu free.
	onHang func()

	// order is the people's ids in listing order, taken as a listing starts.
	order []string
	// overPaged are the queries of people listings refused for asking for
	// more than maxCallingPage with callingData; any fails the test.
	overPaged []string

	n        int
	inFlight int
	maxIn    int
	log      []entry
}

type entry struct {
	Method, Path, Query string
	Body                string
	Status              int
	// Handled is false for requests refused before reaching the resource
	// (401, injected 429 and 5xx).
	Handled bool
	// At is when the request arrived.
	At time.Time
}

type fakePerson struct {
	ID, Email, Name string
	Licences        []string
	Phone, Location string
}

type fakeLicence struct {
	ID, Name, Sub   string
	Total, Consumed int
	// Status is empty for an active subscription.
	Status string
}

type fakeNumber struct {
	Phone, Ext, Location, State string
	OwnerID, OwnerType          string
}

func newFake(t testing.TB) *fake {
	f := &fake{t: t, tokens: map[string]bool{"tok-0": true}, people: map[string]*fakePerson{},
		pageMax: 2000, retryAfter: "0", deny: map[string]bool{}, crash: map[string]string{}, noCalling: map[string]bool{}, workspaces: map[string]map[string]any{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, q := range f.overPaged {
			t.Errorf("the client listed people with callingData over %d a page: %s", maxCallingPage, q)
		}
	})
	return f
}

// org fills the fake with two locations, a Calling and a Meetings licence,
// and numbers +1555000NNNN (the first free, at location L1).
func (f *fake) org(people, numbers, units int) {
	f.locations = []locationJSON{{ID: "L1", Name: "Berlin"}, {ID: "L2", Name: "Paris"}}
	f.licences = []*fakeLicence{
		{ID: "CALL", Name: "Webex Calling - Professional", Sub: "S1", Total: units},
		{ID: "MEET", Name: "Meetings 200", Sub: "S1", Total: units},
	}
	for i := range numbers {
		f.numbers = append(f.numbers, &fakeNumber{Phone: num(i), Ext: fmt.Sprint(1000 + i), Location: "L1", State: "ACTIVE"})
	}
	for i := range people {
		id := fmt.Sprintf("P%d", i)
		f.people[id] = &fakePerson{ID: id, Email: fmt.Sprintf("user%d@example.com", i), Name: fmt.Sprintf("User %d", i)}
	}
}

func (f *fake) locationName(id string) string {
	for _, l := range f.locations {
		if l.ID == id {
			return l.Name
		}
	}
	return ""
}

func num(i int) string { return fmt.Sprintf("+1555%07d", i) }

func (f *fake) client(t testing.TB, opt Options) *Client {
	t.Helper()
	opt.BaseURL = f.srv.URL + "/v1"
	if opt.Token == "" && opt.RefreshToken == "" {
		opt.Token = "tok-0"
	}
	if opt.Backoff == 0 {
		opt.Backoff = time.Millisecond
	}
	if opt.Rate == 0 {
		opt.Rate = 10000
	}
	c, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// calls returns the logged requests matching method and path that reached
// the resource.
func (f *fake) calls(method, path string) []entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []entry
	for _, e := range f.log {
		if e.Method == method && e.Path == path && e.Handled {
			out = append(out, e)
		}
	}
	return out
}

func (f *fake) licence(id string) *fakeLicence {
	for _, l := range f.licences {
		if l.ID == id {
			return l
		}
	}
	return nil
}

func (f *fake) number(phone string) *fakeNumber {
	for _, n := range f.numbers {
		if n.Phone == phone {
			return n
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Trackingid", "ROUTER_fake")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiErr(msg string, code int, desc string) map[string]any {
	return map[string]any{"message": msg, "trackingId": "NA_fake-track",
		"errors": []map[string]any{{"errorCode": code, "description": desc}}}
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
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
	f.mu.Lock()
	f.inFlight++
	f.maxIn = max(f.maxIn, f.inFlight)
	// The entry is logged on arrival, so a request still hanging shows.
	rec.idx = len(f.log)
	f.log = append(f.log, entry{Method: r.Method, Path: path, Query: r.URL.RawQuery, Body: string(body), At: at})
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.log[rec.idx].Status, f.log[rec.idx].Handled = rec.status, rec.handled
		f.mu.Unlock()
	}()
	f.route(rec, r, path, body)
}

type statusRecorder struct {
	http.ResponseWriter
	status  int
	handled bool
	// idx is the request's entry in the log.
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

func (f *fake) route(w *statusRecorder, r *http.Request, path string, body []byte) {
	if path == "/access_token" {
		w.handled = true
		f.token(w, r, body)
		return
	}
	f.mu.Lock()
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !f.tokens[tok] {
		f.mu.Unlock()
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "The request requires a valid access token set in the Authorization request header.", "trackingId": "NA_401"})
		return
	}
	f.n++
	if (f.limiter != nil && !f.limiter.Allow()) || (f.throttleEvery > 0 && f.n%f.throttleEvery == 0) {
		f.mu.Unlock()
		w.Header().Set("Retry-After", f.retryAfter)
		writeJSON(w, cmp.Or(f.throttleStatus, http.StatusTooManyRequests), map[string]any{"message": "Too Many Requests"})
		return
	}
	if f.fail5xx > 0 && (f.fail5xxPath == "" || f.fail5xxPath == path) && (f.fail5xxMethod == "" || f.fail5xxMethod == r.Method) {
		f.fail5xx--
		f.mu.Unlock()
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"message": "Service Unavailable", "trackingId": "NA_503"})
		return
	}
	defer f.mu.Unlock()
	if f.failStatus != 0 {
		writeJSON(w, f.failStatus, apiErr("Forbidden", 0, "the token lacks spark-admin:licenses_read"))
		return
	}
	if scope := scopeOf(r.Method, path); f.lacks[scope] {
		writeJSON(w, http.StatusForbidden, apiErr("The server understood the request, but refused to fulfill it because the access token is missing required scopes or the user is missing required roles or licenses.", 0, ""))
		return
	}
	// Marked in the log now, under the lock: a dropped connection lets the
	// client go on before this handler returns.
	w.handled = true
	f.log[w.idx].Handled = true
	switch {
	case r.Method == http.MethodGet && path == "/licenses":
		var items []licenceJSON
		for _, l := range f.licences {
			items = append(items, licenceJSON{ID: l.ID, Name: l.Name, TotalUnits: l.Total, ConsumedUnits: l.Consumed, SubscriptionID: l.Sub, Status: l.Status})
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/licenses/"):
		f.licenceUsers(w, r, strings.TrimPrefix(path, "/licenses/"))
	case r.Method == http.MethodGet && path == "/locations":
		writeJSON(w, http.StatusOK, map[string]any{"items": f.locations})
	case r.Method == http.MethodGet && path == "/telephony/config/locations":
		f.locationsPage(w, r)
	case r.Method == http.MethodGet && path == "/telephony/config/numbers":
		f.numbersPage(w, r)
	case r.Method == http.MethodGet && path == "/people":
		q := r.URL.Query()
		if q.Get("callingData") == "true" && q.Get("max") != "" {
			if n, err := strconv.Atoi(q.Get("max")); err != nil || n > maxCallingPage {
				f.overPaged = append(f.overPaged, r.URL.RawQuery)
				writeJSON(w, http.StatusBadRequest, apiErr("Invalid max value", 0, "max cannot be more than 100 when callingData is true"))
				return
			}
		}
		if !q.Has("email") {
			f.listPeople(w, r)
			return
		}
		var items []map[string]any
		email := q.Get("email")
		for _, p := range f.people {
			if strings.EqualFold(p.Email, email) {
				items = append(items, f.personJSON(p, q.Get("callingData") == "true"))
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
	case r.Method == http.MethodGet && path == "/people/me":
		writeJSON(w, http.StatusOK, map[string]any{"id": "ADMIN", "emails": []string{"admin@example.com"}, "displayName": "Admin", "orgId": cmp.Or(f.orgID, "ORG-1")})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/organizations/"):
		if id := strings.TrimPrefix(path, "/organizations/"); id != cmp.Or(f.orgID, "ORG-1") {
			writeJSON(w, http.StatusNotFound, apiErr("Organization not found", 0, ""))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": cmp.Or(f.orgID, "ORG-1"), "displayName": cmp.Or(f.orgName, "Example Org")})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/people/"):
		p := f.people[strings.TrimPrefix(path, "/people/")]
		if p == nil {
			writeJSON(w, http.StatusNotFound, apiErr("Person not found", 0, ""))
			return
		}
		writeJSON(w, http.StatusOK, f.personJSON(p, r.URL.Query().Get("callingData") == "true"))
	case r.Method == http.MethodGet && path == "/workspaces":
		var items []map[string]any
		for _, id := range slices.Sorted(maps.Keys(f.workspaces)) {
			w := f.workspaces[id]
			if r.URL.Query().Get("calling") == "" || w["calling"].(map[string]any)["type"] == r.URL.Query().Get("calling") {
				items = append(items, map[string]any{"id": w["id"], "displayName": w["displayName"]})
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/workspaces/"):
		ws, ok := f.workspaces[strings.TrimPrefix(path, "/workspaces/")]
		if !ok {
			writeJSON(w, http.StatusNotFound, apiErr("Workspace not found", 0, ""))
			return
		}
		writeJSON(w, http.StatusOK, ws)
	case r.Method == http.MethodPut && strings.HasPrefix(path, "/workspaces/"):
		f.putWorkspace(w, strings.TrimPrefix(path, "/workspaces/"), body)
	case r.Method == http.MethodPatch && path == "/licenses/users":
		f.patch(r.Context(), w, body)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "no such resource"})
	}
}

// listPeople is GET /people without a filter: every person, in pages of at
// most 1000 (100 with callingData) under an opaque cursor.
func (f *fake) listPeople(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	calling := q.Get("callingData") == "true"
	size, _ := strconv.Atoi(q.Get("max"))
	if size <= 0 {
		size = 100
	}
	size = min(size, 1000)
	cursor := q.Get("cursor")
	if cursor == "" || len(f.order) != len(f.people) {
		f.order = slices.Sorted(maps.Keys(f.people))
	}
	start, _ := strconv.Atoi(strings.TrimPrefix(cursor, "p"))
	start = min(start, len(f.order))
	end := min(start+size, len(f.order))
	items := make([]map[string]any, 0, end-start)
	for _, id := range f.order[start:end] {
		items = append(items, f.personJSON(f.people[id], calling))
	}
	if end < len(f.order) {
		q.Set("cursor", fmt.Sprintf("p%d", end))
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, f.srv.URL, r.URL.Path, q.Encode()))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// isCallingName reports whether a licence name is a Calling one, in
// whatever case the organisation writes it.
func isCallingName(name string) bool { return strings.Contains(strings.ToLower(name), "calling") }

// maxCallingPage is the largest max the people API takes with callingData.
const maxCallingPage = 100

// personJSON is a person as the API shows them with callingData: the Calling
// number formatted for reading, as the reference's examples show it, among
// the other entries a Calling user has (extension, enterprise number, an
// alternate number) placed before it.
func (f *fake) personJSON(p *fakePerson, callingData bool) map[string]any {
	j := map[string]any{"id": p.ID, "emails": []string{p.Email}, "displayName": p.Name, "licenses": slices.Clone(p.Licences)}
	if !callingData {
		// Without Calling data a person shows what the directory synced,
		// which is no Calling number.
		j["phoneNumbers"] = []map[string]any{{"type": "mobile", "value": formatted("+15559990001")}}
		return j
	}
	if p.Location != "" {
		j["locationId"] = p.Location
	}
	if p.Phone != "" {
		var ext string
		if n := f.number(p.Phone); n != nil {
			ext = n.Ext
		}
		j["phoneNumbers"] = []map[string]any{
			{"type": "work_extension", "value": ext},
			{"type": "enterprise", "value": "8" + ext},
			{"type": "alternate1", "value": formatted("+15559990000")},
			{"type": "work", "value": formatted(p.Phone), "primary": true},
			{"type": "mobile", "value": formatted("+15559990001")},
		}
		j["extension"] = ext
	}
	return j
}

// formatted spaces an E.164 number out as the reference's examples do:
// "+1 408 526 7209" for a NANP number, "+CC NN NNNN..." otherwise.
func formatted(e164 string) string {
	d := strings.TrimPrefix(e164, "+")
	if len(d) == 11 && d[0] == '1' {
		return "+1 " + d[1:4] + " " + d[4:7] + " " + d[7:]
	}
	if len(d) < 6 {
		return e164
	}
	return "+" + d[:2] + " " + d[2:4] + " " + d[4:]
}

func (f *fake) token(w http.ResponseWriter, r *http.Request, body []byte) {
	form, _ := url.ParseQuery(string(body))
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method != http.MethodPost || form.Get("grant_type") != "refresh_token" || f.refreshToken == "" ||
		form.Get("refresh_token") != f.refreshToken || form.Get("client_id") != f.clientID || form.Get("client_secret") != f.clientSecret {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "invalid_grant"})
		return
	}
	f.issued++
	tok := fmt.Sprintf("tok-%d", f.issued)
	f.tokens[tok] = true
	f.refreshToken = fmt.Sprintf("ref-%d", f.issued)
	answer := map[string]any{"access_token": tok, "expires_in": f.expiresIn, "refresh_token": f.refreshToken}
	if f.refreshExpiresIn > 0 {
		answer["refresh_token_expires_in"] = f.refreshExpiresIn
	}
	writeJSON(w, http.StatusOK, answer)
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
func (f *fake) locationsPage(w http.ResponseWriter, r *http.Request) {
	start := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		start, _ = strconv.Atoi(strings.TrimPrefix(c, "c"))
	}
	var calling []locationJSON
	for _, l := range f.locations {
		if !f.noCalling[l.ID] {
			calling = append(calling, l)
		}
	}
	start = min(start, len(calling))
	end := min(start+1, len(calling))
	host := f.srv.URL
	if f.foreignNext != "" {
		host = f.foreignNext
	}
	if end < len(calling) {
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?cursor=c%d>; rel="next"`, host, r.URL.Path, end))
	}
	writeJSON(w, http.StatusOK, map[string]any{"locations": calling[start:end]})
}

// licenceUsers is GET /licenses/{id}?includeAssignedTo=user: the licence
// with a page of its users, the next page through a Link header.
func (f *fake) licenceUsers(w http.ResponseWriter, r *http.Request, id string) {
	l := f.licence(id)
	if l == nil {
		writeJSON(w, http.StatusNotFound, apiErr("License not found", 0, id))
		return
	}
	ans := map[string]any{"id": l.ID, "name": l.Name, "totalUnits": l.Total, "consumedUnits": l.Consumed, "subscriptionId": l.Sub}
	q := r.URL.Query()
	if q.Get("includeAssignedTo") != "user" {
		writeJSON(w, http.StatusOK, ans)
		return
	}
	var holders []*fakePerson
	for _, p := range f.people {
		if slices.Contains(p.Licences, id) {
			holders = append(holders, p)
		}
	}
	slices.SortFunc(holders, func(a, b *fakePerson) int { return cmp.Compare(a.ID, b.ID) })
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
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, f.srv.URL, r.URL.Path, q.Encode()))
	}
	ans["users"] = users
	writeJSON(w, http.StatusOK, ans)
}

func (f *fake) numbersPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, _ := strconv.Atoi(q.Get("start"))
	size, _ := strconv.Atoi(q.Get("max"))
	if size <= 0 || size > f.pageMax {
		size = min(f.pageMax, 100)
	}
	start = min(start, len(f.numbers))
	end := min(start+size, len(f.numbers))
	var items []map[string]any
	for _, n := range f.numbers[start:end] {
		it := map[string]any{"phoneNumber": n.Phone, "extension": n.Ext, "state": n.State, "location": map[string]string{"id": n.Location, "name": f.locationName(n.Location)}}
		if n.OwnerID != "" {
			it["owner"] = map[string]string{"id": n.OwnerID, "type": n.OwnerType}
		}
		items = append(items, it)
	}
	if end < len(f.numbers) {
		q.Set("start", strconv.Itoa(end))
		q.Set("max", strconv.Itoa(size))
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, f.srv.URL, r.URL.Path, q.Encode()))
	}
	writeJSON(w, http.StatusOK, map[string]any{"phoneNumbers": items})
}

// patch applies PATCH /licenses/users; f.mu is held.
func (f *fake) patch(ctx context.Context, w *statusRecorder, body []byte) {
	var b patchBody
	if err := json.Unmarshal(body, &b); err != nil {
		writeJSON(w, http.StatusBadRequest, apiErr("bad body", 0, err.Error()))
		return
	}
	var p *fakePerson
	for _, x := range f.people {
		if (b.PersonID != "" && x.ID == b.PersonID) || (b.PersonID == "" && strings.EqualFold(x.Email, b.Email)) {
			p = x
		}
	}
	if p == nil {
		writeJSON(w, http.StatusNotFound, apiErr("Person not found", 0, "User not found"))
		return
	}
	crash := f.crash[p.ID]
	delete(f.crash, p.ID)
	if crash == "drop-before" {
		f.drop(w)
		return
	}
	// Validate every licence first: a refusal applies nothing.
	var add, remove []licenceOp
	for _, op := range b.Licenses {
		l := f.licence(op.ID)
		switch {
		case l == nil:
			writeJSON(w, http.StatusBadRequest, apiErr("License assignment failed", 400000, "License not recognized "+op.ID))
			return
		case op.Operation == "remove":
			if slices.Contains(p.Licences, op.ID) && !f.deny[op.ID] {
				remove = append(remove, op)
			}
			continue
		case op.Operation != "add":
			writeJSON(w, http.StatusBadRequest, apiErr("License assignment failed", 0, "operation must be add or remove"))
			return
		case slices.Contains(p.Licences, op.ID) || f.deny[op.ID]:
			continue
		case l.Status != "" && l.Status != "ACTIVE":
			writeJSON(w, http.StatusBadRequest, apiErr("License assignment failed", 400413, "The subscription of "+l.Name+" is "+strings.ToLower(l.Status)))
			return
		case l.Consumed >= l.Total:
			writeJSON(w, http.StatusBadRequest, apiErr("License assignment failed", 400300, "Insufficient licenses: no available units of "+l.Name))
			return
		}
		if isCallingName(l.Name) {
			pr := op.Properties
			if pr == nil || pr.LocationID == "" {
				writeJSON(w, http.StatusBadRequest, apiErr("License assignment failed", 400411, "Each Webex Calling license should contain its own calling properties. The following license(s) do not have properties: "+op.ID))
				return
			}
			if !slices.ContainsFunc(f.locations, func(l locationJSON) bool { return l.ID == pr.LocationID }) || f.noCalling[pr.LocationID] {
				writeJSON(w, http.StatusBadRequest, apiErr("License assignment failed", 400, "Unable to find location."))
				return
			}
			if pr.PhoneNumber != "" {
				n := f.number(pr.PhoneNumber)
				switch {
				case n == nil || n.Location != pr.LocationID:
					writeJSON(w, http.StatusBadRequest, apiErr("License assignment failed", 400, "Unable to find location."))
					return
				case n.OwnerID != "" && n.OwnerID != p.ID:
					writeJSON(w, http.StatusBadRequest, apiErr("License assignment failed", 400320, "Phone number "+n.Phone+" is already assigned to another user"))
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
		name := strings.ToLower(f.licence(id).Name)
		if strings.Contains(name, "calling") && !strings.Contains(name, "workspace") {
			calling++
		}
		if strings.Contains(name, "contact center") {
			kinds[strings.Contains(name, "premium")] = true
		}
	}
	if calling > 1 {
		writeJSON(w, http.StatusBadRequest, apiErr("License assignment failed", 400404, "A user cannot be assigned both Professional and Standard Webex Calling licenses."))
		return
	}
	if len(kinds) > 1 {
		writeJSON(w, http.StatusBadRequest, apiErr("License assignment failed", 0, "A user cannot have both a Standard and a Premium Contact Center agent license."))
		return
	}
	removedCalling := false
	for _, op := range remove {
		l := f.licence(op.ID)
		l.Consumed--
		p.Licences = slices.DeleteFunc(p.Licences, func(id string) bool { return id == op.ID })
		if isCallingName(l.Name) {
			removedCalling = true
		}
	}
	addedCalling := false
	for _, op := range add {
		f.licence(op.ID).Consumed++
		p.Licences = append(p.Licences, op.ID)
		if pr := op.Properties; pr != nil {
			addedCalling = true
			if n := f.number(p.Phone); n != nil && p.Phone != pr.PhoneNumber && n.OwnerID == p.ID {
				n.OwnerID, n.OwnerType = "", ""
			}
			p.Location, p.Phone = pr.LocationID, pr.PhoneNumber
			if n := f.number(pr.PhoneNumber); n != nil {
				n.OwnerID, n.OwnerType = p.ID, "PEOPLE"
			}
		}
	}
	if removedCalling && !addedCalling {
		if n := f.number(p.Phone); n != nil && n.OwnerID == p.ID {
			n.OwnerID, n.OwnerType = "", ""
		}
		p.Phone, p.Location = "", ""
	}
	switch crash {
	case "drop":
		f.drop(w)
		return
	case "500":
		writeJSON(w, http.StatusInternalServerError, map[string]any{"message": "Internal Server Error", "trackingId": "NA_500"})
		return
	case "hang":
		f.log[w.idx].Handled = true
		f.mu.Unlock()
		if f.onHang != nil {
			f.onHang()
		}
		<-ctx.Done()
		f.mu.Lock()
		return
	}
	// A 206 carries the person as a 200 does and no per-licence error list:
	// what failed is what was asked for and is not in licenses.
	status := http.StatusOK
	ans := map[string]any{"orgId": "ORG", "personId": p.ID, "email": p.Email, "licenses": p.Licences}
	for _, op := range b.Licenses {
		if f.deny[op.ID] {
			status = http.StatusPartialContent
		}
	}
	if status == http.StatusPartialContent && f.bare206 {
		delete(ans, "licenses")
	}
	writeJSON(w, status, ans)
}

// workspace adds a Webex Calling workspace holding lic, with a calendar the
// client must send back untouched.
func (f *fake) workspace(id, name, lic, phone, ext, loc string) {
	f.workspaces[id] = map[string]any{"id": id, "orgId": "ORG", "displayName": name, "created": "2026-01-01T00:00:00Z",
		"calendar": map[string]any{"type": "microsoft", "emailAddress": name + "@example.com"},
		"calling":  map[string]any{"type": "webexCalling", "webexCalling": map[string]any{"phoneNumber": phone, "extension": ext, "locationId": loc, "licenses": []any{lic}}}}
}

// putWorkspace replaces a workspace (f.mu is held): the licence list is
// checked as the service does, and units move with it.
func (f *fake) putWorkspace(w *statusRecorder, id string, body []byte) {
	old, ok := f.workspaces[id]
	if !ok {
		writeJSON(w, http.StatusNotFound, apiErr("Workspace not found", 0, ""))
		return
	}
	var nu map[string]any
	if err := json.Unmarshal(body, &nu); err != nil {
		writeJSON(w, http.StatusBadRequest, apiErr("bad body", 0, err.Error()))
		return
	}
	for _, k := range []string{"id", "orgId", "created"} {
		if _, ok := nu[k]; ok {
			writeJSON(w, http.StatusBadRequest, apiErr("Invalid request", 0, k+" cannot be set"))
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
		lic := f.licence(l)
		switch {
		case lic == nil:
			writeJSON(w, http.StatusBadRequest, apiErr("Invalid license", 0, "License not recognized "+l))
			return
		case !slices.Contains(before, l) && lic.Consumed >= lic.Total:
			writeJSON(w, http.StatusBadRequest, apiErr("Invalid license", 400300, "Insufficient licenses: no available units of "+lic.Name))
			return
		}
		if isCallingName(lic.Name) {
			calling++
		}
	}
	if calling != 1 {
		writeJSON(w, http.StatusBadRequest, apiErr("Invalid license", 0, "A Webex Calling workspace needs exactly one Calling license"))
		return
	}
	for _, l := range before {
		if !slices.Contains(after, l) {
			f.licence(l).Consumed--
		}
	}
	for _, l := range after {
		if !slices.Contains(before, l) {
			f.licence(l).Consumed++
		}
	}
	nu["id"], nu["orgId"], nu["created"] = old["id"], old["orgId"], old["created"]
	f.workspaces[id] = nu
	writeJSON(w, http.StatusOK, nu)
}

// drop closes the connection without an answer.
func (f *fake) drop(w *statusRecorder) {
	c, err := w.Hijack()
	if err != nil {
		f.t.Errorf("hijack: %v", err)
		return
	}
	w.status = -1
	_ = c.Close()
}
