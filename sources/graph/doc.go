// Package graph is the Microsoft Entra ID source, read through Microsoft
// Graph with an app registration's client credentials.
//
// A full pass pages through /users with $select of only the fields the
// decision needs and emits each page as it arrives. Before it reads, it takes
// the current delta links of /users/delta and /groups/delta ($deltatoken=latest),
// so a change made while the pass runs is replayed by the next incremental
// pass rather than lost; replays are harmless.
//
// An incremental pass follows the stored delta links: /groups/delta first,
// collecting the users whose membership of a template or scope group changed
// (members@delta, which can arrive split over pages), then /users/delta,
// emitting changed and removed users, then the collected users not yet
// emitted. A delta link the service no longer keeps (410 Gone, or
// syncStateNotFound) turns the pass into a full one, and says so in the log.
//
// Group memberships are transitive and limited to the groups the templates
// and the scope name: each user carries the display name and the id of those
// it belongs to, directly or through nested groups. The SDK builds and sends
// every request (token, retries after Retry-After, Graph's error body);
// answers are decoded with encoding/json into the fields a pass reads. The
// SDK is kept inside this package, behind the sync.Source port.
package graph
