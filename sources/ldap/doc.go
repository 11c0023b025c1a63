// Package ldap is the LDAP directory source, for Active Directory and
// OpenLDAP.
//
// A pass reads the users page by page with the simple paged results control
// (RFC 2696) and emits each entry as its page arrives; referrals are not
// followed. Group memberships are reported as DNs, nested ones included: the
// group graph is read once per pass (groups are far fewer than users) and each
// user's memberships are closed over it, cycles and all. Groups are read
// under group_base_dn or, without it, under the naming context holding
// base_dn (from the rootDSE), since sites keep groups beside the users' OU
// rather than in it; a template group the pass does not find is warned about. On AD and on an
// OpenLDAP server that keeps memberOf (the memberof overlay) the graph comes
// from memberOf, so a large group's member values are never read; otherwise,
// and always for groupOfUniqueNames, from the groups' member values.
//
// Incremental passes read only what changed since the checkpoint the previous
// pass returned. On OpenLDAP those are the entries whose entryCSN (or, on a
// server without it, modifyTimestamp) is newer than the database's
// contextCSN read before that pass; a server without contextCSN (no syncprov
// overlay) is checkpointed at the newest change the pass saw, which can miss
// an entry changed while the pass ran until the next full pass. On Active
// Directory they are the entries whose uSNChanged is above the
// highestCommittedUSN read from the rootDSE before that pass, on the same
// domain controller (the invocationId of the NTDS Settings object the
// rootDSE's dsServiceName names). Users are also re-read when a group they
// belong to, directly or through nesting, changed, so a user newly added to
// a template group shows up; on AD the nested members come from the in-chain
// matching rule (1.2.840.113556.1.4.1941). A checkpoint that no longer
// applies (another domain controller, a USN ahead of the DC's, another base
// DN or filter) gives a full pass.
//
// On AD an incremental pass also reads again the users removed from a group
// since the previous pass, from a DirSync over the groups with incremental
// values, and reports users deleted since then, from their tombstones (Show
// Deleted control), as removed. On OpenLDAP a user removed from a group is
// seen when the memberof overlay updates the user entry, and deleted users
// only by the next full pass.
//
// The paged user search, whose answer is the whole directory, runs on a
// connection of its own (same url, TLS settings and bind) read by a small
// BER decoder; everything else goes through go-ldap. Decoding with go-ldap
// made a full pass several times slower than ldapsearch. A page is read
// whole into a buffer kept from page to page, the next page is asked for,
// and only then are the entries decoded, each into the same reused Entry
// with one string of its own, and handed on, all in the caller's
// goroutine. On Linux the reader asks the kernel (SO_RCVLOWAT) to wake it
// only once as many bytes are queued as the page is sure to still hold,
// rather than for each entry the server writes (pace.go).
//
// A connection lost during a pass is reopened with backoff and the pass is
// restarted; emitting the same users again is harmless.
package ldap
