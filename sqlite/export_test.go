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

// SetBulkRound sets the bounds of a bulk deletion's rounds and the
// function called after each round commits, and returns a function that
// restores them.
func SetBulkRound(sessions int, messages int64, hook func(round session.DeleteReport)) (restore func()) {
	s, m, h := bulkRoundSessions, bulkRoundMessages, bulkRoundHook
	bulkRoundSessions, bulkRoundMessages, bulkRoundHook = sessions, messages, hook
	return func() { bulkRoundSessions, bulkRoundMessages, bulkRoundHook = s, m, h }
}

// BulkSelect returns the query that selects a round of a bulk deletion of
// the sessions matching where.
func BulkSelect(st *Store, where string) string { return st.bulkSelect(where) }
