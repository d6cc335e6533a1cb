package postgres

import (
	"testing"

	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/session/sessiontest"
)

// TestConformance runs the session contract's conformance suite, each
// subtest on a fresh store in its own schema.
func TestConformance(t *testing.T) {
	pool := testPool(t)
	sessiontest.Run(t, func(t *testing.T) session.Store {
		return newStore(t, pool)
	})
}
