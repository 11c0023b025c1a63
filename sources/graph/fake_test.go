package graph

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licensync/licensync/config"
)

// The fake speaks the documented wire shapes of Microsoft Graph v1.0 and of
// the Microsoft identity platform's client-credentials flow, over TLS, and
// checks what the client sends: a wrong request fails the test.

const (
	fakeTenant   = "0b1c2d3e-0000-4000-8000-000000000001"
	fakeClientID = "11111111-2222-3333-4444-555555555555"
	fakeSecret   = "Zq8~s3cr3t.Value-9x"
)

// fakeUser is a user as the fake stores it.
type fakeUser struct {
	ID, UPN, Mail, Name, Mobile string
	Phones                      []string
	Enabled                     bool
	// Ext holds directory extension properties.
	Ext map[string]string
}

// fakeGroup is a group; Members are user or group ids.
type fakeGroup struct {
	ID, Name string
	Members  []string
}

// memberEvent is one membership change, as /groups/delta reports it.
type memberEvent struct {
	group, member string
	removed       bool
	version       int
}

// closure is what transitive found under a group, kept until the
// directory changes.
type closure struct {
	users  []*fakeUser
	groups []*fakeGroup
}

// deltaState is what a delta or skip token stands for.
type deltaState struct {
	kind    string // users or groups
	from    int    // changes after this version
	to      int    // up to this version
	offset  int    // items already served in this round
	sel     string
	expired bool
}

type fake struct {
	t   testing.TB
	srv *httptest.Server
	ca  string // PEM file of the server's certificate

	mu       sync.Mutex
	users    []*fakeUser
	byID     map[string]*fakeUser
	groups   []*fakeGroup
	version  int
	changed  map[string]int // user id → version of its last change
	removed  map[string]int // user id → version it was deleted at
	events   []memberEvent
	tokens   map[string]*deltaState
	nextTok  int
	access   map[string]bool
	secret   string
	requests []string
	closure  map[string]closure

	// Faults and knobs the tests set.
	tokenError string // an AADSTS error the token endpoint answers with
	deny       bool   // answer 403 Authorization_RequestDenied
	// lacks is an application permission the token lacks: User.Read.All
	// refuses /users, GroupMember.Read.All refuses /groups.
	lacks        string
	throttle     int // the next n Graph requests answer throttleAs
	throttleAs   int // 429 or 503
	retryAfter   string
	expireAs     int // 410 or 400: how an expired delta token is refused
	deltaPage    int // items per delta page
	membersSplit int // members@delta entries per page
	maxPage      int // the service's page cap
	wantSelect   []string
	hold         func(r *http.Request) // called before answering, for timeouts
}

func newFake(t testing.TB) *fake {
	f := &fake{t: t, byID: map[string]*fakeUser{}, changed: map[string]int{}, removed: map[string]int{},
		tokens: map[string]*deltaState{}, closure: map[string]closure{}, access: map[string]bool{}, secret: fakeSecret,
		retryAfter: "1", throttleAs: http.StatusTooManyRequests, expireAs: http.StatusGone, deltaPage: 2, membersSplit: 2, maxPage: 999,
		wantSelect: []string{"id", "displayName", "userPrincipalName", "mail", "accountEnabled", "businessPhones"}}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	// Handshakes a test makes fail on purpose are not news.
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	f.ca = filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	if err := os.WriteFile(f.ca, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// config is a source configuration pointing at the fake.
func (f *fake) config() config.GraphSource {
	return config.GraphSource{
		TenantID: fakeTenant, ClientID: fakeClientID, ClientSecret: config.Secret(fakeSecret),
		BaseURL: f.srv.URL, AuthorityHost: f.srv.URL + "/", CAFile: f.ca, Timeout: config.Duration(5 * time.Second),
	}
}

func (f *fake) addUser(u *fakeUser) {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.closure)
	f.users = append(f.users, u)
	f.byID[u.ID] = u
}

func (f *fake) addGroup(g *fakeGroup) {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.closure)
	f.groups = append(f.groups, g)
}

// change edits a user as the directory would and records the change.
func (f *fake) change(id string, edit func(*fakeUser)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.closure)
	edit(f.byID[id])
	f.version++
	f.changed[id] = f.version
}

// remove deletes a user.
func (f *fake) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.closure)
	delete(f.byID, id)
	f.users = slices.DeleteFunc(f.users, func(u *fakeUser) bool { return u.ID == id })
	for _, g := range f.groups {
		g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == id })
	}
	f.version++
	f.removed[id] = f.version
}

// join adds member (a user or a group) to group gid, or removes it.
func (f *fake) join(gid, member string, leave bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.closure)
	g := f.group(gid)
	if leave {
		g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == member })
	} else {
		g.Members = append(g.Members, member)
	}
	f.version++
	f.events = append(f.events, memberEvent{group: gid, member: member, removed: leave, version: f.version})
}

// expireTokens makes every delta token issued so far unusable.
func (f *fake) expireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.tokens {
		s.expired = true
	}
}

// log returns the requests served so far (path and decoded query).
func (f *fake) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fake) group(id string) *fakeGroup {
	for _, g := range f.groups {
		if g.ID == id {
			return g
		}
	}
	return nil
}

// contains reports whether member is in g, directly or through nested
// groups.
func (f *fake) contains(g *fakeGroup, member string, seen map[string]bool) bool {
	seen[g.ID] = true
	for _, m := range g.Members {
		if m == member {
			return true
		}
		if sub := f.group(m); sub != nil && !seen[m] && f.contains(sub, member, seen) {
			return true
		}
	}
	return false
}

func (f *fake) isGroup(id string) bool { return f.group(id) != nil }

// transitive lists the users and groups under g, each once, users in the
// directory's order.
func (f *fake) transitive(g *fakeGroup) (usersIn []*fakeUser, groupsIn []*fakeGroup) {
	if c, ok := f.closure[g.ID]; ok {
		return c.users, c.groups
	}
	defer func() { f.closure[g.ID] = closure{usersIn, groupsIn} }()
	seenU, seenG := map[string]bool{}, map[string]bool{g.ID: true}
	var walk func(*fakeGroup)
	walk = func(g *fakeGroup) {
		for _, m := range g.Members {
			if sub := f.group(m); sub != nil {
				if !seenG[m] {
					seenG[m] = true
					groupsIn = append(groupsIn, sub)
					walk(sub)
				}
				continue
			}
			seenU[m] = true
		}
	}
	walk(g)
	for _, u := range f.users {
		if seenU[u.ID] {
			usersIn = append(usersIn, u)
		}
	}
	return usersIn, groupsIn
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	if f.hold != nil {
		f.hold(r)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path+"?"+decode(r.URL.RawQuery))
	path := r.URL.Path
	if !strings.HasPrefix(path, "/v1.0/") {
		f.identity(w, r, path)
		return
	}
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || !f.access[tok] {
		f.t.Errorf("%s %s: Authorization %q is not a bearer token the identity endpoint issued", r.Method, path, auth)
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return
	}
	if f.throttle > 0 {
		f.throttle--
		w.Header().Set("Retry-After", f.retryAfter)
		if f.throttleAs == http.StatusServiceUnavailable {
			graphError(w, http.StatusServiceUnavailable, "serviceNotAvailable", "The service is temporarily unavailable.")
			return
		}
		graphError(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests, retry after the interval in Retry-After.")
		return
	}
	if f.deny {
		graphError(w, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		return
	}
	rest := strings.TrimPrefix(path, "/v1.0")
	if f.lacks == "User.Read.All" && strings.HasPrefix(rest, "/users") || f.lacks == "GroupMember.Read.All" && strings.HasPrefix(rest, "/groups") {
		graphError(w, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		return
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	switch {
	case rest == "/users":
		f.checkSelect(r, q)
		sel := q.Get("$select")
		f.pageOf(w, r, q, len(f.users), func(i int) any { return f.userJSON(f.users[i], sel) })
	case rest == "/users/delta()" || rest == "/users/delta":
		f.delta(w, r, q, "users")
	case rest == "/groups/delta()" || rest == "/groups/delta":
		f.delta(w, r, q, "groups")
	case rest == "/groups":
		name, ok := strings.CutPrefix(q.Get("$filter"), "displayName eq '")
		if !ok || !strings.HasSuffix(name, "'") {
			f.t.Errorf("GET /groups with $filter %q, want displayName eq '...'", q.Get("$filter"))
		}
		name = strings.ReplaceAll(strings.TrimSuffix(name, "'"), "''", "'")
		var out []any
		for _, g := range f.groups {
			if strings.EqualFold(g.Name, name) {
				out = append(out, map[string]any{"id": g.ID, "displayName": g.Name})
			}
		}
		f.page(w, r, q, out)
	case len(parts) == 2 && parts[0] == "groups":
		g := f.group(parts[1])
		if g == nil {
			graphError(w, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", parts[1]))
			return
		}
		writeJSON(w, map[string]any{"id": g.ID, "displayName": g.Name})
	case len(parts) >= 3 && parts[0] == "groups" && parts[2] == "transitiveMembers":
		g := f.group(parts[1])
		if g == nil {
			graphError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource does not exist.")
			return
		}
		us, gs := f.transitive(g)
		if len(parts) == 4 && (parts[3] == "microsoft.graph.user" || parts[3] == "graph.user") {
			f.checkSelect(r, q)
			sel := q.Get("$select")
			f.pageOf(w, r, q, len(us), func(i int) any { return f.userJSON(us[i], sel) })
			return
		}
		if q.Get("$select") != "id" {
			f.t.Errorf("transitiveMembers with $select %q, want id only", q.Get("$select"))
		}
		f.pageOf(w, r, q, len(us)+len(gs), func(i int) any {
			if i < len(us) {
				return map[string]any{"@odata.type": "#microsoft.graph.user", "id": us[i].ID}
			}
			return map[string]any{"@odata.type": "#microsoft.graph.group", "id": gs[i-len(us)].ID}
		})
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "transitiveMemberOf":
		var out []any
		for _, g := range f.groups {
			if f.contains(g, parts[1], map[string]bool{}) {
				out = append(out, map[string]any{"@odata.type": "#microsoft.graph.group", "id": g.ID})
			}
		}
		f.page(w, r, q, out)
	case len(parts) == 2 && parts[0] == "users":
		u := f.byID[parts[1]]
		if u == nil {
			graphError(w, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", parts[1]))
			return
		}
		f.checkSelect(r, q)
		writeJSON(w, f.userJSON(u, q.Get("$select")))
	default:
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		graphError(w, http.StatusBadRequest, "BadRequest", "Unsupported request.")
	}
}

// checkSelect fails the test unless the client selected the fields it needs.
func (f *fake) checkSelect(r *http.Request, q url.Values) {
	got := strings.Split(q.Get("$select"), ",")
	for _, want := range f.wantSelect {
		if !slices.Contains(got, want) {
			f.t.Errorf("%s: $select %q lacks %s", r.URL.Path, q.Get("$select"), want)
		}
	}
}

// page serves items $top at a time, linking to the rest with a skip token.
func (f *fake) page(w http.ResponseWriter, r *http.Request, q url.Values, items []any) {
	f.pageOf(w, r, q, len(items), func(i int) any { return items[i] })
}

// pageOf is page for n items rendered on demand, so a large directory
// costs only the page served.
func (f *fake) pageOf(w http.ResponseWriter, r *http.Request, q url.Values, n int, item func(int) any) {
	top := 100
	if t := q.Get("$top"); t != "" {
		top, _ = strconv.Atoi(t)
	}
	top = min(top, f.maxPage)
	skip, _ := strconv.Atoi(q.Get("$skiptoken"))
	end := min(skip+top, n)
	values := make([]any, 0, end-skip)
	for i := skip; i < end; i++ {
		values = append(values, item(i))
	}
	body := map[string]any{"@odata.context": f.srv.URL + "/v1.0/$metadata#directoryObjects", "value": values}
	if end < n {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("$skiptoken", strconv.Itoa(end))
		body["@odata.nextLink"] = f.srv.URL + r.URL.Path + "?" + nq.Encode()
	}
	writeJSON(w, body)
}

func nonNil(items []any) []any {
	if items == nil {
		return []any{}
	}
	return items
}

// userJSON renders a user with only the selected properties, as Graph does.
func (f *fake) userJSON(u *fakeUser, sel string) any {
	m := map[string]any{}
	for _, k := range strings.Split(sel, ",") {
		switch k {
		case "id":
			m[k] = u.ID
		case "displayName":
			m[k] = u.Name
		case "userPrincipalName":
			m[k] = u.UPN
		case "mail":
			m[k] = nilIfEmpty(u.Mail)
		case "accountEnabled":
			m[k] = u.Enabled
		case "businessPhones":
			m[k] = nonNilStrings(u.Phones)
		case "mobilePhone":
			m[k] = nilIfEmpty(u.Mobile)
		default:
			if v, ok := u.Ext[k]; ok {
				m[k] = v
			}
		}
	}
	return m
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// delta serves /users/delta and /groups/delta: $deltatoken=latest, rounds
// from a delta token, their skip-token pages, and expired tokens.
func (f *fake) delta(w http.ResponseWriter, r *http.Request, q url.Values, kind string) {
	var st deltaState
	switch tok := q.Get("$deltatoken") + q.Get("$skiptoken"); {
	case q.Get("$deltatoken") == "latest":
		if kind == "users" {
			f.checkSelect(r, q)
		} else if q.Get("$select") != "displayName,members" {
			f.t.Errorf("/groups/delta with $select %q, want displayName,members", q.Get("$select"))
		}
		writeJSON(w, map[string]any{"value": []any{}, "@odata.deltaLink": f.link(kind, &deltaState{kind: kind, from: f.version, to: f.version, sel: q.Get("$select")}, "$deltatoken")})
		return
	case tok == "":
		f.t.Errorf("/%s/delta without a token: the client must not read the whole directory through delta", kind)
		graphError(w, http.StatusBadRequest, "BadRequest", "Unsupported request.")
		return
	default:
		s, ok := f.tokens[tok]
		if !ok || s.kind != kind {
			f.t.Errorf("/%s/delta with token %q the fake never issued", kind, tok)
			graphError(w, http.StatusBadRequest, "BadRequest", "Invalid token.")
			return
		}
		if s.expired {
			w.Header().Set("Location", f.srv.URL+"/v1.0/"+kind+"/delta()")
			if f.expireAs == http.StatusGone {
				graphError(w, http.StatusGone, "resyncRequired", "The delta token has expired; start a new delta round.")
			} else {
				graphError(w, http.StatusBadRequest, "syncStateNotFound", "The sync state generation is not found; the delta token is older than the service keeps.")
			}
			return
		}
		st = *s
		if q.Get("$deltatoken") != "" {
			st.to, st.offset = f.version, 0
		}
	}
	var items []any
	if kind == "users" {
		for _, u := range f.users {
			if v := f.changed[u.ID]; v > st.from && v <= st.to {
				items = append(items, f.userJSON(u, st.sel))
			}
		}
		gone := slices.Sorted(maps.Keys(f.removed))
		for _, id := range gone {
			if v := f.removed[id]; v > st.from && v <= st.to {
				items = append(items, map[string]any{"id": id, "@removed": map[string]any{"reason": "deleted"}})
			}
		}
	} else {
		for _, g := range f.groups {
			var ms []any
			for _, e := range f.events {
				if e.group != g.ID || e.version <= st.from || e.version > st.to {
					continue
				}
				m := map[string]any{"@odata.type": "#microsoft.graph.user", "id": e.member}
				if f.isGroup(e.member) {
					m["@odata.type"] = "#microsoft.graph.group"
				}
				if e.removed {
					m["@removed"] = map[string]any{"reason": "deleted"}
				}
				ms = append(ms, m)
			}
			// A large group's members@delta arrives split over several
			// pages, the group repeated on each.
			for i := 0; i < len(ms); i += f.membersSplit {
				items = append(items, map[string]any{"id": g.ID, "displayName": g.Name, "members@delta": ms[i:min(i+f.membersSplit, len(ms))]})
			}
		}
	}
	end := min(st.offset+f.deltaPage, len(items))
	body := map[string]any{"value": nonNil(items[st.offset:end])}
	if end < len(items) {
		nx := st
		nx.offset = end
		body["@odata.nextLink"] = f.link(kind, &nx, "$skiptoken")
	} else {
		body["@odata.deltaLink"] = f.link(kind, &deltaState{kind: kind, from: st.to, to: st.to, sel: st.sel}, "$deltatoken")
	}
	writeJSON(w, body)
}

func (f *fake) link(kind string, s *deltaState, param string) string {
	f.nextTok++
	tok := fmt.Sprintf("%s-%d", kind, f.nextTok)
	f.tokens[tok] = s
	return f.srv.URL + "/v1.0/" + kind + "/delta()?" + url.Values{param: {tok}}.Encode()
}

// identity serves the identity platform's OpenID configuration and token
// endpoints for the fake tenant.
func (f *fake) identity(w http.ResponseWriter, r *http.Request, path string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 2 {
		f.t.Errorf("unexpected identity request %s %s", r.Method, path)
		http.NotFound(w, r)
		return
	}
	tenant := parts[0]
	if tenant != fakeTenant {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": "invalid_tenant",
			"error_description": fmt.Sprintf("AADSTS90002: Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Trace ID: 5e1c Correlation ID: 9a2f Timestamp: 2026-12-02 10:00:00Z", tenant),
			"error_codes":       []int{90002}})
		return
	}
	base := f.srv.URL + "/" + tenant
	switch strings.Join(parts[1:], "/") {
	case "v2.0/.well-known/openid-configuration":
		writeJSON(w, map[string]any{
			"token_endpoint":         base + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"issuer":                 base + "/v2.0",
		})
	case "oauth2/v2.0/token":
		if err := r.ParseForm(); err != nil {
			f.t.Errorf("token request: %v", err)
		}
		if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
			f.t.Errorf("token request with grant_type %q, want client_credentials", g)
		}
		if s, want := r.PostForm.Get("scope"), f.srv.URL+"/.default"; !strings.Contains(s, want) {
			f.t.Errorf("token request with scope %q, want %s", s, want)
		}
		aadErr := func(status int, code, desc string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": code, "error_description": desc + " Trace ID: 5e1c Correlation ID: 9a2f Timestamp: 2026-12-02 10:00:00Z"})
		}
		switch {
		case r.PostForm.Get("client_id") != fakeClientID:
			aadErr(http.StatusBadRequest, "unauthorized_client", fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory '%s'.", r.PostForm.Get("client_id"), tenant))
		case f.tokenError != "":
			aadErr(http.StatusUnauthorized, "invalid_client", f.tokenError)
		case r.PostForm.Get("client_assertion") != "":
			if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
				f.t.Errorf("client_assertion_type %q", r.PostForm.Get("client_assertion_type"))
			}
			f.issue(w)
		case r.PostForm.Get("client_secret") != f.secret:
			aadErr(http.StatusUnauthorized, "invalid_client", fmt.Sprintf("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", fakeClientID))
		default:
			f.issue(w)
		}
	default:
		f.t.Errorf("unexpected identity request %s %s", r.Method, path)
		http.NotFound(w, r)
	}
}

func (f *fake) issue(w http.ResponseWriter) {
	f.nextTok++
	tok := fmt.Sprintf("eyJ0eXAiOiJKV1QifQ.access-%d", f.nextTok)
	f.access[tok] = true
	writeJSON(w, map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok})
}

// graphError writes Graph's documented error body.
func graphError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "7d3c0f0e-1111-4a2b-9c3d-000000000042")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg,
		"innerError": map[string]any{"request-id": "7d3c0f0e-1111-4a2b-9c3d-000000000042", "date": "2026-12-02T10:00:00", "client-request-id": "7d3c0f0e-1111-4a2b-9c3d-000000000042"}}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
	_ = json.NewEncoder(w).Encode(v)
}

func decode(raw string) string {
	s, err := url.QueryUnescape(raw)
	if err != nil {
		return raw
	}
	return s
}
