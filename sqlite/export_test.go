package sqlite

import "github.com/convo-dev/convo/session"

// SetUpgradeHook sets the function Upgrade calls at points of its
// transaction, for tests that stop it there.
func SetUpgradeHook(f func(stage string)) { upgradeHook = f }

// SetFeedRecording turns the change feed's records off (or on again) for
// st, so that a benchmark can measure what they cost an append.
func SetFeedRecording(st *Store, on bool) { st.noFeed = !on }

// ListSQL returns the query and arguments List runs for q (limit rows and
// one more), so that a test can check its plan.
func ListSQL(st *Store, q session.ListQuery, limit int) (string, []any, error) {
	return st.listSQL(q, limit)
}
