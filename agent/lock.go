package agent

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"github.com/convo-dev/convo/session"
)

// Turns on a session whose store has no optimistic concurrency
// (session.Versioned) are serialised within the process by a lock per
// (store value, session id), shared by every Agent of the process. Two store
// values on one database get two locks: the package documentation says so
// and asks for one store per database.

type sessionKey struct {
	store any // nil for a store whose type is not comparable
	id    string
}

type sessionLock struct {
	ch   chan struct{} // holds a token while a turn runs
	refs int           // holders and waiters
}

var sessionLocks = struct {
	mu sync.Mutex
	m  map[sessionKey]*sessionLock
}{m: make(map[sessionKey]*sessionLock)}

// lockSession takes the process-wide turn lock of the session id in store,
// following policy, and returns the function that releases it.
func lockSession(ctx context.Context, store session.Store, id string, policy ConcurrencyPolicy) (func(), error) {
	key := sessionKey{id: id}
	if reflect.ValueOf(store).Comparable() {
		key.store = store
	}
	sessionLocks.mu.Lock()
	l := sessionLocks.m[key]
	if l == nil {
		l = &sessionLock{ch: make(chan struct{}, 1)}
		sessionLocks.m[key] = l
	}
	l.refs++
	sessionLocks.mu.Unlock()
	done := func() {
		sessionLocks.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(sessionLocks.m, key)
		}
		sessionLocks.mu.Unlock()
	}
	if policy == FailIfBusy {
		select {
		case l.ch <- struct{}{}:
		default:
			done()
			return nil, fmt.Errorf("%w: session %q: another agent of this process is running a turn", ErrBusy, id)
		}
	} else {
		select {
		case l.ch <- struct{}{}:
		case <-ctx.Done():
			done()
			return nil, fmt.Errorf("agent: session %q: waiting for the running turn: %w", id, ctx.Err())
		}
	}
	return func() { <-l.ch; done() }, nil
}
