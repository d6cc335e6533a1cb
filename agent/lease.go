package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// A turn lease tells the other writers of a session that the writer of an
// unfinished turn is alive. It lives in the session's UpdatedAt, which every
// process can read (session.Describer's Info): a running turn moves it to
// now every third of the lease (session.Importer's SetUpdatedAt, which
// changes nothing else), and every write of the turn moves it too. A turn
// whose session has been quiet for the whole lease has lost its writer: a
// crashed process holds it at most one lease after its last renewal.

// minTurnLease is the shortest turn lease: renewals every 100 ms.
const minTurnLease = 300 * time.Millisecond

// activityStore is a store that records when a session was last active and
// lets a writer record it: what the turn lease needs.
type activityStore interface {
	Info(ctx context.Context, id string) (session.Info, error)
	SetUpdatedAt(ctx context.Context, id string, updatedAt int64) error
}

// stale reports whether the unfinished turn ending msgs has lost its
// writer, so that this agent may take the session over. On a store that
// holds the turn lease (activityStore), that is when the session has been
// quiet (no write, no renewal) for the lease, or for WithStaleTurnAfter if
// that is shorter; on any other store, when the turn's last message is
// older than WithStaleTurnAfter (also when the session's stored info cannot
// be read).
func (a *Agent) stale(ctx context.Context, msgs []message.Message) (bool, error) {
	if as, ok := a.opts.store.(activityStore); ok {
		in, err := as.Info(ctx, a.opts.id)
		switch {
		case err == nil:
			return time.Since(time.Unix(0, in.UpdatedAt)) >= min(a.opts.lease, a.opts.staleAfter), nil
		case !errors.Is(err, session.ErrCorrupt):
			return false, fmt.Errorf("agent: session %q: read the turn lease: %w", a.opts.id, err)
		}
		// The session's stored info cannot be read (corrupt metadata, say):
		// judge by the turn's last message, as on a store without the lease.
	}
	last := msgs[len(msgs)-1]
	return time.Since(time.Unix(0, last.CreatedAt)) >= a.opts.staleAfter, nil
}

// holdLease renews the turn lease every third of it until the returned
// function is called, which stops the renewals and reports a failed one as
// a NoticeLeaseNotRenewed. On a store without the lease it does nothing.
func (t *turnState) holdLease() (release func()) {
	a := t.a
	as, ok := a.opts.store.(activityStore)
	if !ok {
		return func() {}
	}
	stop := make(chan struct{})
	var (
		wg      sync.WaitGroup
		lastErr error
	)
	wg.Go(func() {
		tick := time.NewTicker(a.opts.lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			// Renew even while the caller's context ends: the turn still
			// records its outcome (WithWriteTimeout) and holds the session
			// until then.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), a.opts.writeTimeout)
			if err := as.SetUpdatedAt(ctx, a.opts.id, time.Now().UnixNano()); err != nil {
				lastErr = err
			}
			cancel()
		}
	})
	return func() {
		close(stop)
		wg.Wait()
		if lastErr != nil {
			t.notice(Notice{Kind: NoticeLeaseNotRenewed, Err: lastErr})
		}
	}
}
