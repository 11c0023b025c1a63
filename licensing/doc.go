// Package licensing is licensync's domain: the directory user as a source
// hands it over, the calling organisation as a target shows it, the licence
// templates, and the decision that joins them.
//
// The decision is a pure function over plain values (Policy.Screen, then
// Decide): no I/O happens here, so every rule in the design is a table test.
// Sources, targets and the pass runner live at the edges and only move
// values in and out of this package.
//
// Checks run in one fixed order and the first that applies decides, so each
// user has exactly one outcome:
//
//	disabled → consumer domain → no template → no phone → not E.164 →
//	no Webex person → already has Calling (same number / other number) →
//	number claimed twice → not in inventory → location invalid →
//	owned by another → no licence unit → provision.
//
// A person who already has Calling on the directory's number gets what the
// template adds that they lack, in one change that also removes what it
// replaces: the Calling licence of another subscription (a move), the other
// Contact Center agent kind (a swap, only with removals acknowledged), and,
// for a template that does not preserve existing licences, what they hold in
// the template's categories. Whether a pass may remove anything at all is
// Removals.Allow's to say, over the whole pass, before its first write.
package licensing
