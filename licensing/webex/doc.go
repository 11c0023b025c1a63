// Package webex is the Webex Calling target: a small client of the Webex
// public REST API (https://webexapis.com/v1) that loads the organisation's
// licences, calling locations and number inventory, finds people by listing
// them all or looking each up by email (whichever costs a pass fewer
// requests), and adds licences with their Calling number, removing what a
// change replaces in the same request (a subscription move, an agent swap).
//
// Every request goes through one path that holds the pass to the configured
// rate (token bucket) and concurrency, sends the bearer token, refreshes it
// when an integration's refresh token is configured, and retries what may
// succeed on a second try: 429 and 423 after their Retry-After (capped), 5xx
// and transport failures after a jittered exponential backoff. A 4xx other
// than those is answered once and mapped to a licensing.ApplyError cause.
// When the service throttles, the rate is halved once and then trimmed near
// the service's limit, recovering step by step on success.
//
// Licence assignment is not idempotent, so a PATCH that may have reached the
// service (the request was written and no answer came back, or a 5xx came
// back) is never simply sent again: the person is read back first and only
// the licences they still lack, and the removals still to do, are requested
// on the next attempt.
//
// A rejected token (401 after a refresh, or with no way to refresh) stops
// the pass through Apply's second result. The token never appears in an
// error or a log line.
package webex
