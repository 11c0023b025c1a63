package okta

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is the time both the fake organisation and the source's
// transport run on: sleeping advances it at once.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// fakeUser and fakeGroup are the organisation's objects.
type fakeUser struct {
	ID          string
	Status      string
	LastUpdated time.Time
	Profile     map[string]any
}

type fakeGroup struct {
	ID, Name              string
	LastMembershipUpdated time.Time
	Members               map[string]bool
	sorted                []string
}

// fakeOkta speaks the parts of Okta's management API the source uses, with
// Okta's documented shapes: limit and after paging with one Link header per
// link, the search expression language (enough of it), rate limit headers
// and 429, and the error body {errorCode, errorSummary, errorLink, errorId,
// errorCauses}. It checks the Authorization header and every query
// parameter it is sent.
type fakeOkta struct {
	t     testing.TB
	clock *fakeClock
	srv   *httptest.Server

	mu     sync.Mutex
	token  string
	users  map[string]*fakeUser
	groups map[string]*fakeGroup
	// limit is each endpoint family's budget per minute.
	limit int
	used  map[string]int
	win   map[string]time.Time
	// fail answers the next n requests with status failStatus.
	fail       int
	failStatus int
	// forbidden answers 403 to every request, forbid to those whose path
	// starts with it.
	forbidden bool
	forbid    string
	// serviceApp, when set, is the client id and key accepted at the
	// token endpoint; the access token it issues is accessToken.
	serviceApp  string
	serviceKey  *rsa.PublicKey
	accessToken string

	requests []string
	throttle int
	errorSeq int
	// sorted caches the user ids in order; nil after a user is added.
	sorted []string
}

func newFakeOkta(t testing.TB, clock *fakeClock, token string) *fakeOkta {
	f := &fakeOkta{t: t, clock: clock, token: token, users: map[string]*fakeUser{}, groups: map[string]*fakeGroup{},
		limit: 600, used: map[string]int{}, win: map[string]time.Time{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOkta) URL() string { return f.srv.URL }

// addUser adds or replaces a user, stamped now.
func (f *fakeOkta) addUser(id, status string, profile map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[id] = &fakeUser{ID: id, Status: status, LastUpdated: f.clock.Now(), Profile: profile}
	f.sorted = nil
}

func (f *fakeOkta) addGroup(id, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups[id] = &fakeGroup{ID: id, Name: name, LastMembershipUpdated: f.clock.Now(), Members: map[string]bool{}}
}

// join adds a user to a group, as Okta does: the group's
// lastMembershipUpdated moves, the user's lastUpdated does not.
func (f *fakeOkta) join(groupID, userID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[groupID]
	g.Members[userID] = true
	g.sorted = nil
	g.LastMembershipUpdated = f.clock.Now()
}

// update changes a user's profile attribute or status and stamps it.
func (f *fakeOkta) update(id string, change func(u *fakeUser)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.users[id]
	change(u)
	u.LastUpdated = f.clock.Now()
}

func (f *fakeOkta) setFail(n, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail, f.failStatus = n, status
}

func (f *fakeOkta) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func (f *fakeOkta) Throttled() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.throttle
}

func (f *fakeOkta) resetRequests() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = nil
}

func (f *fakeOkta) writeError(w http.ResponseWriter, status int, code, summary string, causes ...string) {
	f.errorSeq++
	body := map[string]any{
		"errorCode": code, "errorSummary": summary,
		"errorLink": code, "errorId": fmt.Sprintf("oae%06d", f.errorSeq), "errorCauses": []map[string]string{},
	}
	for _, c := range causes {
		body["errorCauses"] = append(body["errorCauses"].([]map[string]string), map[string]string{"errorSummary": c})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (f *fakeOkta) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	now := f.clock.Now()
	w.Header().Set("Date", now.Format(http.TimeFormat))
	w.Header().Set("X-Okta-Request-Id", fmt.Sprintf("req%d", len(f.requests)))
	if r.URL.Path == "/oauth2/v1/token" {
		f.serveToken(w, r)
		return
	}
	want := "SSWS " + f.token
	if f.serviceApp != "" {
		want = "Bearer " + f.accessToken
	}
	if r.Header.Get("Authorization") != want || f.token == "" && f.serviceApp == "" {
		f.writeError(w, http.StatusUnauthorized, "E0000011", "Invalid token provided")
		return
	}
	if r.Method != http.MethodGet || r.Header.Get("Accept") != "application/json" {
		f.writeError(w, http.StatusMethodNotAllowed, "E0000022", "The endpoint does not support the provided HTTP method")
		return
	}
	// Rate limit: each endpoint family has its own budget per minute.
	bucket := bucketOf(r.URL.Path)
	start := now.Truncate(time.Minute)
	if !f.win[bucket].Equal(start) {
		f.win[bucket], f.used[bucket] = start, 0
	}
	reset := start.Add(time.Minute).Unix()
	w.Header().Set("X-Rate-Limit-Limit", strconv.Itoa(f.limit))
	w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(reset, 10))
	if f.used[bucket] >= f.limit {
		f.throttle++
		w.Header().Set("X-Rate-Limit-Remaining", "0")
		f.writeError(w, http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests.")
		return
	}
	f.used[bucket]++
	w.Header().Set("X-Rate-Limit-Remaining", strconv.Itoa(f.limit-f.used[bucket]))
	if f.fail > 0 {
		f.fail--
		f.writeError(w, f.failStatus, "E0000009", "Internal Server Error")
		return
	}
	if f.forbidden || f.forbid != "" && strings.HasPrefix(r.URL.Path, f.forbid) {
		f.writeError(w, http.StatusForbidden, "E0000006", "You do not have permission to perform the requested action")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == "/api/v1/users":
		f.listUsers(w, r)
	case r.URL.Path == "/api/v1/groups":
		f.listGroups(w, r)
	case len(parts) == 5 && parts[2] == "groups" && parts[4] == "users":
		f.listMembers(w, r, parts[3])
	case len(parts) == 5 && parts[2] == "users" && parts[4] == "groups":
		f.listUserGroups(w, r, parts[3])
	case len(parts) == 4 && parts[2] == "users":
		f.getUser(w, r, parts[3])
	default:
		f.writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+r.URL.Path+" (Path)")
	}
}

// query checks the parameters: only the allowed ones, limit within
// bounds.
func (f *fakeOkta) query(w http.ResponseWriter, r *http.Request, maxLimit int, allowed ...string) (url.Values, int, bool) {
	q := r.URL.Query()
	for k, v := range q {
		ok := k == "limit" || k == "after"
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok || len(v) != 1 {
			f.writeError(w, http.StatusBadRequest, "E0000031", "Invalid search criteria.", "unexpected query parameter "+k)
			return nil, 0, false
		}
	}
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 1 || limit > maxLimit {
		f.writeError(w, http.StatusBadRequest, "E0000001", "Api validation failed: limit", fmt.Sprintf("limit: must be between 1 and %d, was %q", maxLimit, q.Get("limit")))
		return nil, 0, false
	}
	return q, limit, true
}

// page writes the items after the cursor that match, in id order (ids is
// sorted), with Link headers for self and, when more follow, next.
func page[T any](w http.ResponseWriter, r *http.Request, q url.Values, limit int, ids []string, match func(string) bool, item func(string) T) {
	after := q.Get("after")
	i := sort.SearchStrings(ids, after)
	if after != "" && i < len(ids) && ids[i] == after {
		i++
	}
	out := make([]T, 0, limit)
	last, more := "", false
	for ; i < len(ids); i++ {
		if !match(ids[i]) {
			continue
		}
		if len(out) == limit {
			more = true
			break
		}
		out = append(out, item(ids[i]))
		last = ids[i]
	}
	self := *r.URL
	self.Scheme, self.Host = "http", r.Host
	w.Header().Add("Link", "<"+self.String()+`>; rel="self"`)
	if more {
		next := self
		nq := q
		nq.Set("after", last)
		next.RawQuery = nq.Encode()
		w.Header().Add("Link", "<"+next.String()+`>; rel="next"`)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func sortedKeys[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func all(string) bool { return true }

func (f *fakeOkta) userJSON(id string) map[string]any {
	u := f.users[id]
	return map[string]any{
		"id": u.ID, "status": u.Status, "created": "2020-01-01T00:00:00.000Z",
		"lastUpdated": u.LastUpdated.UTC().Format(timeLayout), "profile": u.Profile,
		"_links": map[string]any{"self": map[string]string{"href": f.srv.URL + "/api/v1/users/" + u.ID}},
	}
}

func (f *fakeOkta) listUsers(w http.ResponseWriter, r *http.Request) {
	q, limit, ok := f.query(w, r, 200, "search")
	if !ok {
		return
	}
	var match func(*fakeUser) bool
	if s := q.Get("search"); s != "" {
		var err error
		if match, err = parseSearch(s); err != nil {
			f.writeError(w, http.StatusBadRequest, "E0000031", "Invalid search criteria.", err.Error())
			return
		}
	} else {
		match = func(u *fakeUser) bool { return u.Status != "DEPROVISIONED" }
	}
	if f.sorted == nil {
		f.sorted = sortedKeys(f.users)
	}
	page(w, r, q, limit, f.sorted, func(id string) bool { return match(f.users[id]) }, f.userJSON)
}

func (f *fakeOkta) groupJSON(id string, stats bool) map[string]any {
	g := f.groups[id]
	out := map[string]any{
		"id": g.ID, "type": "OKTA_GROUP", "created": "2020-01-01T00:00:00.000Z",
		"lastUpdated": "2020-01-01T00:00:00.000Z", "lastMembershipUpdated": g.LastMembershipUpdated.UTC().Format(timeLayout),
		"objectClass": []string{"okta:user_group"}, "profile": map[string]string{"name": g.Name, "description": ""},
	}
	if stats {
		out["_embedded"] = map[string]any{"stats": map[string]any{"usersCount": len(g.Members), "appsCount": 0, "groupPushMappingsCount": 0, "hasAdminPrivilege": false}}
	}
	return out
}

func (f *fakeOkta) listGroups(w http.ResponseWriter, r *http.Request) {
	q, limit, ok := f.query(w, r, 10000, "expand")
	if !ok {
		return
	}
	if e := q.Get("expand"); e != "" && e != "stats" && e != "app" {
		f.writeError(w, http.StatusBadRequest, "E0000031", "Invalid search criteria.", "expand: "+e)
		return
	}
	page(w, r, q, limit, sortedKeys(f.groups), all, func(id string) map[string]any { return f.groupJSON(id, q.Get("expand") == "stats") })
}

// listUserGroups answers a user's groups, all in one answer.
func (f *fakeOkta) listUserGroups(w http.ResponseWriter, r *http.Request, id string) {
	if _, ok := f.users[id]; !ok {
		f.writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+id+" (User)")
		return
	}
	if len(r.URL.Query()) != 0 {
		f.writeError(w, http.StatusBadRequest, "E0000031", "Invalid search criteria.", "unexpected query "+r.URL.RawQuery)
		return
	}
	out := []map[string]any{}
	for _, gid := range sortedKeys(f.groups) {
		if f.groups[gid].Members[id] {
			out = append(out, f.groupJSON(gid, false))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// getUser is GET /api/v1/users/{id}.
func (f *fakeOkta) getUser(w http.ResponseWriter, r *http.Request, id string) {
	if _, ok := f.users[id]; !ok {
		f.writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+id+" (User)")
		return
	}
	if len(r.URL.Query()) != 0 {
		f.writeError(w, http.StatusBadRequest, "E0000031", "Invalid search criteria.", "unexpected query "+r.URL.RawQuery)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(f.userJSON(id))
}

func (f *fakeOkta) listMembers(w http.ResponseWriter, r *http.Request, id string) {
	g, found := f.groups[id]
	if !found {
		f.writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+id+" (UserGroup)")
		return
	}
	q, limit, ok := f.query(w, r, 10000)
	if !ok {
		return
	}
	if g.sorted == nil {
		g.sorted = sortedKeys(g.Members)
	}
	page(w, r, q, limit, g.sorted, all, f.userJSON)
}

// parseSearch reads Okta search expressions made of comparisons joined by
// and/or (and binding tighter), on status, id, lastUpdated and profile
// attributes, with eq, gt, ge, lt and le.
func parseSearch(s string) (func(*fakeUser) bool, error) {
	var ors []func(*fakeUser) bool
	for _, alt := range strings.Split(s, " or ") {
		var ands []func(*fakeUser) bool
		for _, term := range strings.Split(alt, " and ") {
			m, err := parseTerm(strings.TrimSpace(term))
			if err != nil {
				return nil, err
			}
			ands = append(ands, m)
		}
		ors = append(ors, func(u *fakeUser) bool {
			for _, m := range ands {
				if !m(u) {
					return false
				}
			}
			return true
		})
	}
	return func(u *fakeUser) bool {
		for _, m := range ors {
			if m(u) {
				return true
			}
		}
		return false
	}, nil
}

func parseTerm(term string) (func(*fakeUser) bool, error) {
	f := strings.SplitN(term, " ", 3)
	if len(f) != 3 || len(f[2]) < 2 || f[2][0] != '"' || f[2][len(f[2])-1] != '"' {
		return nil, fmt.Errorf("cannot parse %q", term)
	}
	attr, op, val := f[0], f[1], f[2][1:len(f[2])-1]
	var get func(*fakeUser) string
	switch {
	case attr == "status":
		get = func(u *fakeUser) string { return u.Status }
	case attr == "id":
		get = func(u *fakeUser) string { return u.ID }
	case attr == "lastUpdated":
		if _, err := time.Parse(timeLayout, val); err != nil {
			return nil, fmt.Errorf("lastUpdated: %q is not yyyy-MM-dd'T'HH:mm:ss.SSSZ", val)
		}
		get = func(u *fakeUser) string { return u.LastUpdated.UTC().Format(timeLayout) }
	case strings.HasPrefix(attr, "profile."):
		name := strings.TrimPrefix(attr, "profile.")
		get = func(u *fakeUser) string { s, _ := u.Profile[name].(string); return s }
	default:
		return nil, fmt.Errorf("unknown attribute %q", attr)
	}
	cmp := map[string]func(int) bool{
		"eq": func(c int) bool { return c == 0 }, "gt": func(c int) bool { return c > 0 }, "ge": func(c int) bool { return c >= 0 },
		"lt": func(c int) bool { return c < 0 }, "le": func(c int) bool { return c <= 0 },
	}[op]
	if cmp == nil {
		return nil, fmt.Errorf("unknown operator %q", op)
	}
	return func(u *fakeUser) bool { return cmp(strings.Compare(get(u), val)) }, nil
}

// serveToken is the org authorization server's token endpoint for a
// service app signing a client assertion with its private key.
func (f *fakeOkta) serveToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method != http.MethodPost || q.Get("grant_type") != "client_credentials" ||
		q.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if f.serviceApp == "" || !verifyAssertion(q.Get("client_assertion"), f.serviceApp, f.srv.URL+"/oauth2/v1/token", f.serviceKey) {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "The client_assertion signature is invalid."})
		return
	}
	if q.Get("scope") != "okta.users.read okta.groups.read" {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_scope", "error_description": "The requested scope is invalid: " + q.Get("scope")})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3600, "access_token": f.accessToken, "scope": q.Get("scope")})
}

// verifyAssertion checks an RS256 JWT's signature and its claims.
func verifyAssertion(jwt, clientID, audience string, key *rsa.PublicKey) bool {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 || key == nil {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
		return false
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		Iss, Sub, Aud string
	}
	return json.Unmarshal(body, &claims) == nil && claims.Iss == clientID && claims.Sub == clientID && claims.Aud == audience
}
