package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/doctor"
)

// Doctor checks what a pass needs of Entra ID: a token for the app
// registration (naming what an AADSTS error means), the application
// permissions User.Read.All and GroupMember.Read.All (one read each), the
// template groups, and the delta queries incremental passes follow. It only
// reads.
func Doctor(ctx context.Context, cfg config.GraphSource, templateGroups []string) []doctor.Check {
	s, err := Open(cfg, templateGroups, nil)
	if err != nil {
		return []doctor.Check{doctor.Fail("graph credential", "build the client credential from the configuration", err.Error(),
			"check client_secret or certificate_file, tenant_id and client_id")}
	}
	defer s.Close()
	cfg = s.cfg
	tried := fmt.Sprintf("client-credentials token for client_id %s in tenant %s", cfg.ClientID, cfg.TenantID)
	if _, err := s.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.scope}}); err != nil {
		if code, detail := aadError(err, cfg); code != "" {
			return []doctor.Check{doctor.Fail("graph token", tried, detail, aadFix(code, cfg))}
		}
		return []doctor.Check{doctor.Fail("graph token", tried, s.explain("getting a token", err).Error(), "check authority_host, ca_file and the network")}
	}
	checks := []doctor.Check{doctor.Pass("graph token", tried, "issued")}
	checks = append(checks, s.probeUsers(ctx))
	checks = append(checks, s.probeGroups(ctx)...)
	p := &pass{s: s}
	for _, path := range []string{"/users/delta()", "/groups/delta()"} {
		sel := s.selectUser()
		if path == "/groups/delta()" {
			sel = []string{"displayName", "members"}
		}
		tried := "GET " + path + "?$deltatoken=latest"
		if _, err := p.latest(ctx, path, sel); err != nil {
			checks = append(checks, permissionFailure("graph delta "+path, tried, err, "User.Read.All and GroupMember.Read.All"))
			continue
		}
		checks = append(checks, doctor.Pass("graph delta "+path, tried, "delta link issued"))
	}
	return checks
}

// permissionFailure is a failed check whose fix names the application
// permission a 403 shows the app lacks.
func permissionFailure(name, tried string, err error, permission string) doctor.Check {
	var ae *APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusForbidden || ae.Code == "Authorization_RequestDenied") {
		return doctor.Fail(name, tried, fmt.Sprintf("%s not granted (HTTP %d %s, request-id %s)", permission, ae.Status, ae.Code, ae.RequestID),
			"in the app registration, add the Microsoft Graph application permission "+permission+" and grant admin consent")
	}
	return doctor.Fail(name, tried, err.Error(), "check base_url, ca_file and the network")
}

// probeUsers reads one user as a full pass does: User.Read.All.
func (s *Source) probeUsers(ctx context.Context) doctor.Check {
	top := int32(1)
	tried := "GET /users?$top=1 with the properties a pass selects"
	ri, err := s.usersBuilder().ToGetRequestInformation(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: s.selectUser(), Top: &top}})
	var page rawPage[rawUser]
	if err == nil {
		err = s.explain("reading /users", s.getJSON(ctx, ri, &page))
	}
	if err != nil {
		return permissionFailure("graph User.Read.All", tried, err, "User.Read.All")
	}
	if len(page.Value) == 0 {
		return doctor.Fail("graph User.Read.All", tried, "granted, but the tenant shows no user", "check tenant_id")
	}
	return doctor.Pass("graph User.Read.All", tried, "granted: read "+page.Value[0].UPN)
}

// probeGroups looks each template group up and reads the members of the
// first found: GroupMember.Read.All.
func (s *Source) probeGroups(ctx context.Context) []doctor.Check {
	p := &pass{s: s}
	var checks []doctor.Check
	var first *group
	for _, name := range s.template {
		found, err := p.findGroup(ctx, name)
		tried := fmt.Sprintf("look up group %q by id or display name", name)
		cname := fmt.Sprintf("graph template group %q", name)
		switch {
		case err != nil:
			return append(checks, permissionFailure("graph GroupMember.Read.All", tried, err, "GroupMember.Read.All"))
		case len(found) == 0:
			checks = append(checks, doctor.Fail(cname, tried, "the tenant has no such group", "name the group in the template by its display name or object id"))
		default:
			checks = append(checks, doctor.Pass(cname, tried, "found: "+found[0].id))
			if first == nil {
				first = found[0]
			}
		}
	}
	if first == nil {
		// No group to read members of: a look-up by a name no group has
		// still needs the permission.
		tried := "look up a group by display name"
		if _, err := p.findGroup(ctx, "licensync doctor"); err != nil {
			return append(checks, permissionFailure("graph GroupMember.Read.All", tried, err, "GroupMember.Read.All"))
		}
		return append(checks, doctor.Pass("graph GroupMember.Read.All", tried, "granted"))
	}
	top := int32(1)
	tried := fmt.Sprintf("GET /groups/%s/transitiveMembers?$top=1", first.id)
	ri, err := s.groupsBuilder().ByGroupId(first.id).TransitiveMembers().ToGetRequestInformation(ctx,
		&groups.ItemTransitiveMembersRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.ItemTransitiveMembersRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &top}})
	var page rawPage[rawObject]
	if err == nil {
		err = s.explain("reading transitive members", s.getJSON(ctx, ri, &page))
	}
	if err != nil {
		return append(checks, permissionFailure("graph GroupMember.Read.All", tried, err, "GroupMember.Read.All"))
	}
	return append(checks, doctor.Pass("graph GroupMember.Read.All", tried, "granted"))
}
