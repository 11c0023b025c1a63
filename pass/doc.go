// Package pass runs licensing passes, sources → rules → plan → apply: it
// streams users from a Source, screens them on all cores, looks people up
// and decides in batches into a Plan, guards the plan's removals, applies it
// through a Target (or exports it, or only reports it), records every
// decision in the state store, advances the checkpoint only when the pass
// succeeded, and writes the pass report. A move between subscriptions
// (Move) is a pass whose plan comes from the holders of a licence instead.
package pass
