package okta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/okta/okta-sdk-golang/v2/okta"
	"github.com/okta/okta-sdk-golang/v2/okta/query"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/doctor"
)

// minHeadroom is the share of the users endpoint's rate limit that doctor
// asks to be left: less means another API client is using up the
// organisation's budget, and passes will wait for its windows.
const minHeadroom = 0.2

// Doctor checks what a pass needs of Okta: the credentials accepted, the
// users and groups readable, the template and scope groups present, and the
// headroom left in the users endpoint's rate limit. It only reads.
func Doctor(ctx context.Context, cfg config.OktaSource, templateGroups []string) []doctor.Check {
	s, err := Open(ctx, cfg, Options{TemplateGroups: templateGroups})
	if err != nil {
		return []doctor.Check{doctor.Fail("okta configuration", "build the Okta client", err.Error(), "check org_url and the credentials")}
	}
	defer s.Close()
	return s.doctor(ctx)
}

func (s *Source) doctor(ctx context.Context) []doctor.Check {
	tried := "GET " + s.org + "/api/v1/users?limit=1"
	_, resp, err := s.client.User.ListUsers(ctx, query.NewQueryParams(query.WithLimit(1)))
	if err != nil {
		explained := s.apiError(ctx, "reading users", 1, resp, err)
		switch status(resp, err) {
		case http.StatusForbidden:
			return []doctor.Check{
				doctor.Pass("okta token", tried, "accepted"),
				doctor.Fail("okta users read", tried, explained.Error(), s.readFix("okta.users.read")),
			}
		default:
			return []doctor.Check{doctor.Fail("okta token", tried, explained.Error(), s.tokenFix())}
		}
	}
	checks := []doctor.Check{doctor.Pass("okta token", tried, "accepted"), doctor.Pass("okta users read", tried, "granted"), headroom(tried, resp)}
	return append(checks, s.probeGroups(ctx)...)
}

func (s *Source) tokenFix() string {
	if s.cfg.Token != "" {
		return "create a new API token (Security > API > Tokens) as an admin with at least the Read-only Administrator role, and set token"
	}
	return "check client_id, private_key_file and private_key_id against the service app, and that the scopes " + strings.Join(s.cfg.Scopes, ", ") + " are granted to it"
}

func (s *Source) readFix(scope string) string {
	if s.cfg.Token != "" {
		return "give the token's admin at least the Read-only Administrator role"
	}
	return "grant the service app the " + scope + " scope (Okta API Scopes), and the Read-only Administrator role"
}

// status is the HTTP status of a refused request, 0 when none arrived.
func status(resp *okta.Response, err error) int {
	if resp != nil && resp.Response != nil {
		return resp.StatusCode
	}
	var oe *okta.Error
	if errors.As(err, &oe) && oe.ErrorCode == codeForbidden {
		return http.StatusForbidden
	}
	return 0
}

// headroom reads the rate limit headers of the users endpoint's answer.
func headroom(tried string, resp *okta.Response) doctor.Check {
	name := "okta rate limit /api/v1/users"
	limit, err1 := strconv.Atoi(resp.Header.Get("X-Rate-Limit-Limit"))
	left, err2 := strconv.Atoi(resp.Header.Get("X-Rate-Limit-Remaining"))
	if err1 != nil || err2 != nil || limit <= 0 {
		return doctor.Unknown(name, tried, "the answer carries no X-Rate-Limit-Limit and X-Rate-Limit-Remaining", "")
	}
	detail := fmt.Sprintf("%d of %d requests left in this window", left, limit)
	if float64(left) < minHeadroom*float64(limit) {
		return doctor.Fail(name, tried, detail+fmt.Sprintf(", under the %.0f%% doctor asks for: another API client is using up the organisation's limit", minHeadroom*100),
			"find the API client using the users endpoint (Reports > Rate Limits), or raise the limit for the organisation")
	}
	return doctor.Pass(name, tried, detail)
}

// probeGroups lists the groups as a pass does and checks that each scope
// and template group is among them.
func (s *Source) probeGroups(ctx context.Context) []doctor.Check {
	names := append(append([]string(nil), s.cfg.Groups...), s.opt.TemplateGroups...)
	if len(names) == 0 {
		return nil
	}
	p := &pass{s: s}
	found := map[string]string{}
	n := 0
	qp := query.NewQueryParams(query.WithLimit(groupPageSize), query.WithExpand("stats"))
	tried := "GET " + s.org + "/api/v1/groups"
	err := walk(ctx, p, "listing groups", func() ([]*okta.Group, *okta.Response, error) { return s.client.Group.ListGroups(ctx, qp) },
		func(g *okta.Group) error {
			n++
			if g.Profile != nil {
				found[strings.ToLower(g.Profile.Name)] = g.Id
			}
			found[strings.ToLower(g.Id)] = g.Id
			return nil
		})
	if err != nil {
		return []doctor.Check{doctor.Fail("okta groups read", tried, err.Error(), s.readFix("okta.groups.read"))}
	}
	checks := []doctor.Check{doctor.Pass("okta groups read", tried, fmt.Sprintf("granted: %d group(s)", n))}
	seen := map[string]bool{}
	for _, n := range names {
		key := strings.ToLower(strings.TrimSpace(n))
		if seen[key] {
			continue
		}
		seen[key] = true
		name := fmt.Sprintf("okta group %q", n)
		if id, ok := found[key]; ok {
			checks = append(checks, doctor.Pass(name, tried, "found: "+id))
			continue
		}
		checks = append(checks, doctor.Fail(name, tried, "the organisation has no such group", "name the group by its name or id, as the Okta admin console shows it"))
	}
	return checks
}
