// Package sessiontest is the conformance suite every convo session store
// runs. A store that passes it keeps the contract of session.Store and
// session.Session, and of every optional capability it implements.
//
// # Running it
//
// A backend runs the suite from one test function:
//
//	func TestConformance(t *testing.T) {
//		sessiontest.Run(t, func(t *testing.T) session.Store {
//			db := openTestDB(t) // a fresh, empty database; t.Cleanup closes it
//			store, err := mystore.New(t.Context(), db)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return store
//		})
//	}
//
// newStore is called once for every subtest and must return a fresh, empty
// store; it arranges its own cleanup with t.Cleanup.
//
// RunWith takes Options as well. Options.Corrupt damages one stored row
// under the store (for a SQL store, an UPDATE of its parts column); with
// it the suite checks what the store does with a row it cannot decode
// (CorruptRows: the error names the session and row, GetMessages with a
// limit still returns the newest messages) and, for a Quarantiner, that the
// row can be moved aside with its bytes kept. Without it those checks skip.
//
// An empty read must give a non-nil empty slice (EmptyResults); elsewhere
// the suite treats nil and empty slices as equal.
//
// # What it checks
//
// Each subtest is named after the rule it enforces, such as
// "GetMessages/limit_0_returns_none" or
// "Atomicity/empty_role_middle_gives_ErrInvalidMessage_and_stores_nothing",
// so a failure reads as the rule that was broken. The rules are those
// listed in the session package documentation. Capabilities (Opener,
// Describer, Lister, Searcher, OwnerEraser, Pruner, Importer, Quarantiner,
// Forker, Watcher with FeedTrimmer, and Versioned, Rewriter and Ranger
// sessions) are checked when the store, or its sessions, implement them,
// and skipped with "store does not implement session.Lister" (and so on)
// otherwise. A
// Searcher whose first search fails with session.ErrNotSupported (a SQLite
// build without FTS5), or a Watcher whose Watch does (a PostgreSQL store on
// Citus), is skipped with that error's text.
//
// Checks that start goroutines have a watchdog: if they run for more than
// a minute, they fail with a dump of every goroutine instead of hanging.
//
// The suite depends only on the standard library, go-cmp and convo's
// message and session packages.
package sessiontest
