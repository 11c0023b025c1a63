package pass

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/licensync/licensync/licensing"
)

// readAheadChunks is how many chunks of users a source may read ahead of
// the pass: enough to cover the target's snapshot of a large organisation
// at a file or LDAP source's pace, little enough (about 10 MiB) to keep
// memory flat.
const readAheadChunks = 16

// readAheadChunk is how many users go to the pass at once.
const readAheadChunk = 1024

// aheadSource reads its source in the background from the moment it is
// made, so that the directory streams in while the target's snapshot
// loads and while the users already read are screened. Its Users hands on
// what was read, in order, from the checkpoint it was started with.
type aheadSource struct {
	Source
	since  string
	cancel context.CancelFunc
	chunks chan []licensing.DirectoryUser
	done   chan struct{}
	// next, full and err are the source's results, set before done closes.
	next string
	full bool
	err  error
	once sync.Once
}

// readAhead starts reading src from since, counting each user in read as
// it arrives: a pass's progress, and the service's watchdog, see a source
// that is being read even while its users wait in a chunk.
func readAhead(ctx context.Context, src Source, since string, read *atomic.Int64) *aheadSource {
	ctx, cancel := context.WithCancel(ctx)
	a := &aheadSource{Source: src, since: since, cancel: cancel, chunks: make(chan []licensing.DirectoryUser, readAheadChunks), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		defer close(a.chunks)
		buf := make([]licensing.DirectoryUser, 0, readAheadChunk)
		send := func() error {
			select {
			case a.chunks <- buf:
				buf = make([]licensing.DirectoryUser, 0, readAheadChunk)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		a.next, a.full, a.err = src.Users(ctx, since, func(u licensing.DirectoryUser) error {
			read.Add(1)
			buf = append(buf, u)
			if len(buf) == readAheadChunk {
				return send()
			}
			return nil
		})
		if a.err == nil && len(buf) > 0 {
			a.err = send()
		}
	}()
	return a
}

// errReadAheadSince is a pass asking a read-ahead source for another
// checkpoint than the one it was started with.
var errReadAheadSince = errors.New("pass: the source was read ahead from another checkpoint")

// Users hands on the users read, then the source's results. An error from
// emit stops the reading and is returned as is. It may be called once.
func (a *aheadSource) Users(ctx context.Context, since string, emit func(licensing.DirectoryUser) error) (string, bool, error) {
	if since != a.since {
		a.stop()
		return "", false, errReadAheadSince
	}
	for chunk := range a.chunks {
		for _, u := range chunk {
			if err := emit(u); err != nil {
				a.stop()
				return "", false, err
			}
		}
	}
	<-a.done
	return a.next, a.full, a.err
}

// stop ends the reading and waits for it; a pass that ends early calls it
// so that nothing reads on behind it.
func (a *aheadSource) stop() {
	a.once.Do(func() {
		a.cancel()
		for range a.chunks {
		}
		<-a.done
	})
}
