package pass

import (
	"context"

	"github.com/licensync/licensync/licensing"
)

// Source streams users from a directory. Implementations page through the
// directory and call emit as each page arrives; they never hold the whole
// directory in memory.
type Source interface {
	// Users streams the users changed since the checkpoint (all of them when
	// since is empty) to emit. It returns the checkpoint to store if the pass
	// succeeds, and full=true when it read the whole directory (a source may
	// fall back to a full read when the checkpoint is no longer usable).
	// An error from emit stops the stream and is returned as is.
	Users(ctx context.Context, since string, emit func(licensing.DirectoryUser) error) (next string, full bool, err error)
	Close() error
}

// Target is the calling organisation decisions land in.
type Target interface {
	// Snapshot loads locations, the number inventory and licences.
	Snapshot(ctx context.Context) (*licensing.Org, error)
	// People returns the people with the given emails, keyed by lower-case
	// email; emails without a person are absent from the map. When only
	// some look-ups failed, the error is a licensing.LookupErrors naming
	// them and the map holds the others: those users fail and the pass goes
	// on. Any other error stops the pass.
	People(ctx context.Context, emails []string) (map[string]licensing.Person, error)
	// Apply makes the changes and returns one error per change (nil only
	// when the target made the change: a change that would change nothing
	// is an error too; a *licensing.ApplyError for a per-user refusal). A
	// change left without an answer counts as not applied. A non-nil
	// second result means the target can take no more writes in this pass
	// (an expired token, say) and the pass must stop.
	Apply(ctx context.Context, changes []licensing.Change) ([]error, error)
	Close() error
}

// LookupPlanner is a Target that can find people more cheaply all at once
// than one by one when a pass looks many up (the Webex API lists a thousand
// people a request). The pass tells it, after reading the source and before
// its first People call, how many users it will look up.
type LookupPlanner interface {
	ExpectLookups(n int)
}

// holderLister is a target that can list who holds a licence: what a move
// needs and a pass does not.
type holderLister interface {
	Holders(ctx context.Context, licenceID string) ([]licensing.Person, error)
}

// workspaceMover is a target that can list and move workspaces' licences.
type workspaceMover interface {
	WorkspaceHolders(ctx context.Context, licenceID string) ([]licensing.Workspace, error)
	ApplyWorkspaces(ctx context.Context, changes []licensing.WorkspaceChange) ([]error, error)
}
