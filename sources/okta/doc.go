// Package okta is the Okta source: users and group memberships read with
// the Okta management API through github.com/okta/okta-sdk-golang/v2, which
// stays inside this package so a move to a later SDK touches nothing else.
//
// A full pass lists users of every status (a plain listing leaves out
// DEPROVISIONED ones) page by page, following Link rel="next", and emits
// each page as it arrives; with source.okta.groups set it reads the members
// of those groups instead. ACTIVE users, and those in a passing state
// (RECOVERY, PASSWORD_EXPIRED, LOCKED_OUT), are enabled; STAGED,
// PROVISIONED, SUSPENDED and DEPROVISIONED users are emitted disabled.
// The email is the profile's email, never its login. Memberships are read
// only for the scope groups and the groups templates name, one listing of
// each group's members per pass (ids only, kept in memory), and reported as
// the group's name and id.
//
// An incremental pass searches lastUpdated gt the checkpoint less an
// overlap (clock skew, and Okta's eventually consistent search), skipping
// the users the previous pass already emitted with the same lastUpdated.
// Joining a group changes the group's lastMembershipUpdated, not the
// user's lastUpdated, so the members of every read group whose
// lastMembershipUpdated moved are emitted too. When no group changed and
// few users did, their groups are asked for user by user instead of
// reading every member. The checkpoint is the newest lastUpdated seen,
// never later than the server's Date when the pass began nor earlier than
// that less the overlap.
// Leaving a group or being deleted is found by the next full pass.
//
// Requests go through the source's own http.Client: each attempt times out,
// X-Rate-Limit-Limit/Remaining/Reset pace requests (per endpoint family)
// before the limit is reached, a 429 waits until the window resets, and 5xx
// answers and dropped connections are retried with backoff. The SDK's
// response cache is off, its own 429 retries are off (the transport does
// them), and every setting it would read from ~/.okta/okta.yaml or
// OKTA_CLIENT_* variables is set explicitly from licensync's configuration.
package okta
