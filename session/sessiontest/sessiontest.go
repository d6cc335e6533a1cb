package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// Run runs the conformance suite against the stores newStore returns.
// newStore is called once per subtest and must return a fresh, empty store;
// it arranges any cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) session.Store) {
	t.Helper()
	RunWith(t, newStore, Options{})
}

// Options add to what the suite can check.
type Options struct {
	// Corrupt, when set, damages the stored row of message msgID in
	// session id of st (a store newStore returned), so that reading that
	// row fails with an error matching session.ErrCorrupt, and returns the
	// bytes the row's parts now hold. It reaches under the store (for a
	// SQL store, an UPDATE of the parts column). With it the suite checks
	// what a store does with a corrupt row: GetMessages with a limit still
	// returns the readable newest messages, the error names the session
	// and row, and a Quarantiner moves the row aside with its bytes kept.
	Corrupt func(t *testing.T, st session.Store, id, msgID string) []byte
	// Twin, when set, returns a second store on the same database as st
	// (a store newStore returned), as another process (or another
	// instance in this one) would open it; it arranges its own cleanup
	// with t.Cleanup. With it the suite checks that one instance sees
	// what another wrote (the search rules).
	Twin func(t *testing.T, st session.Store) session.Store
}

// RunWith is Run with Options.
func RunWith(t *testing.T, newStore func(t *testing.T) session.Store, o Options) {
	t.Helper()
	s := &suite{newStore: newStore, opts: o}
	areas := []struct {
		name string
		run  func(*testing.T, *suite)
	}{
		{"Exists", testExists},
		{"Create", testCreate},
		{"Load", testLoad},
		{"Delete", testDelete},
		{"GetMessages", testGetMessages},
		{"EmptyResults", testEmptyResults},
		{"AddMessages", testAddMessages},
		{"Atomicity", testAtomicity},
		{"PopMessage", testPopMessage},
		{"Clear", testClear},
		{"Isolation", testIsolation},
		{"Aliasing", testAliasing},
		{"SessionIDs", testSessionIDs},
		{"MessageIDs", testMessageIDs},
		{"CreatedAt", testCreatedAt},
		{"Retry", testRetry},
		{"Content", testContent},
		{"Cancel", testCancel},
		{"Concurrency", testConcurrency},
		{"Versioned", testVersioned},
		{"Rewriter", testRewriter},
		{"Ranger", testRanger},
		{"Opener", testOpener},
		{"Describer", testDescriber},
		{"Lister", testLister},
		{"Searcher", testSearcher},
		{"OwnerEraser", testOwnerEraser},
		{"Pruner", testPruner},
		{"Importer", testImporter},
		{"CorruptRows", testCorruptRows},
		{"Quarantiner", testQuarantiner},
		{"Forker", testForker},
		{"Watcher", testWatcher},
	}
	for _, a := range areas {
		t.Run(a.name, func(t *testing.T) { a.run(t, s) })
	}
}

type suite struct {
	newStore func(t *testing.T) session.Store
	opts     Options
}

// store returns a fresh store for t.
func (s *suite) store(t *testing.T) session.Store {
	t.Helper()
	st := s.newStore(t)
	if st == nil {
		t.Fatal("newStore returned a nil store")
	}
	return st
}

// withSession returns a fresh store and a new session "s1" in it.
func (s *suite) withSession(t *testing.T) (session.Store, session.Session) {
	t.Helper()
	st := s.store(t)
	return st, create(t, st, "s1")
}

// watchdogTimeout bounds every check that starts goroutines. The suite's
// own tests shorten it.
var watchdogTimeout = 60 * time.Second

// cmpOpts compares messages: nil and empty slices and maps are equal.
var cmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

func create(t *testing.T, st session.Store, id string) session.Session {
	t.Helper()
	sess, err := st.Create(t.Context(), id)
	if err != nil {
		t.Fatalf("Create(%q): %v", id, err)
	}
	if sess == nil {
		t.Fatalf("Create(%q) returned a nil session and no error", id)
	}
	return sess
}

func load(t *testing.T, st session.Store, id string) session.Session {
	t.Helper()
	sess, err := st.Load(t.Context(), id)
	if err != nil {
		t.Fatalf("Load(%q): %v", id, err)
	}
	if sess == nil {
		t.Fatalf("Load(%q) returned a nil session and no error", id)
	}
	return sess
}

func exists(t *testing.T, st session.Store, id string) bool {
	t.Helper()
	ok, err := st.Exists(t.Context(), id)
	if err != nil {
		t.Fatalf("Exists(%q): %v", id, err)
	}
	return ok
}

func add(t *testing.T, sess session.Session, msgs ...message.Message) {
	t.Helper()
	if err := sess.AddMessages(t.Context(), msgs); err != nil {
		t.Fatalf("AddMessages to %q (%d messages): %v", sess.ID(), len(msgs), err)
	}
}

func get(t *testing.T, sess session.Session, limit *int) []message.Message {
	t.Helper()
	msgs, err := sess.GetMessages(t.Context(), limit)
	if err != nil {
		t.Fatalf("GetMessages of %q: %v", sess.ID(), err)
	}
	return msgs
}

func all(t *testing.T, sess session.Session) []message.Message {
	t.Helper()
	return get(t, sess, nil)
}

// users returns n user messages with texts prefix-0 ... prefix-(n-1), each
// with an ID and a creation time.
func users(prefix string, n int) []message.Message {
	out := make([]message.Message, n)
	for i := range out {
		out[i] = message.NewUserMessage(fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

// texts returns the Content of each message.
func texts(msgs []message.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Content()
	}
	return out
}

// sameMessages fails t unless got equals want exactly.
func sameMessages(t *testing.T, what string, want, got []message.Message) {
	t.Helper()
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("%s: messages differ (-want +got):\n%s", what, diff)
	}
}

// sameTexts fails t unless the messages' texts are want, in order.
func sameTexts(t *testing.T, what string, want []string, got []message.Message) {
	t.Helper()
	if diff := cmp.Diff(want, texts(got), cmpOpts...); diff != "" {
		t.Errorf("%s: message texts differ (-want +got):\n%s", what, diff)
	}
}

// sentinelNames names the errors the suite matches, for failure messages.
var sentinelNames = map[error]string{
	session.ErrNotFound:       "session.ErrNotFound",
	session.ErrExists:         "session.ErrExists",
	session.ErrInvalidID:      "session.ErrInvalidID",
	session.ErrConflict:       "session.ErrConflict",
	session.ErrInvalidMessage: "session.ErrInvalidMessage",
	session.ErrNotSupported:   "session.ErrNotSupported",
	context.Canceled:          "context.Canceled",
}

// isErr fails t unless errors.Is(err, target).
func isErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		name, ok := sentinelNames[target]
		if !ok {
			name = fmt.Sprintf("%q", target)
		}
		t.Errorf("%s: got error %v, want one for which errors.Is(err, %s)", what, err, name)
	}
}

// cancelled returns a context that is already cancelled.
func cancelled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}

// concurrently runs fn(ctx, i) for i in [0, n) in n goroutines, started at
// once, and waits for them under the watchdog: past watchdogTimeout it
// cancels ctx and fails t with a dump of every goroutine.
func concurrently(t *testing.T, n int, fn func(ctx context.Context, i int)) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(ctx, i)
		}()
	}
	close(start)
	waitWatchdog(t, cancel, &wg)
}

func waitWatchdog(t *testing.T, cancel context.CancelFunc, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(watchdogTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		cancel()
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("watchdog: goroutines still running after %v (deadlock?); all goroutines:\n%s", watchdogTimeout, buf)
	}
}

// noPanic runs fn and fails t if it panics.
func noPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", what, r)
		}
	}()
	fn()
}

// clockTick sleeps long enough for a store's clock to advance, so that two
// writes get different timestamps even on a coarse clock. It is not a timing
// assertion: no check depends on how long anything takes.
func clockTick() { time.Sleep(5 * time.Millisecond) }
