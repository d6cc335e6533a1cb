package sqlite

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/convo-dev/convo/session"
)

// TestKeepBestHoldsAPage checks that the hits a search matches in Go are
// kept a page at a time: never more than the limit, and in the end the
// same hits, in the same order, as a stable sort of all of them by score
// (best first, then in the order they came) cut to the limit.
func TestKeepBestHoldsAPage(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, limit := range []int{1, 3, 20} {
		var all, best []scoredHit
		for i := range 2000 {
			h := scoredHit{hit: session.SearchHit{Seq: int64(i)}, score: r.IntN(6)}
			all = append(all, h)
			best = keepBest(best, h, limit)
			if len(best) > limit {
				t.Fatalf("limit %d: %d hits held after %d matches", limit, len(best), i+1)
			}
		}
		slices.SortStableFunc(all, func(a, b scoredHit) int { return b.score - a.score })
		want := all[:limit]
		if !slices.EqualFunc(best, want, func(a, b scoredHit) bool { return a.hit.Seq == b.hit.Seq && a.score == b.score }) {
			t.Errorf("limit %d: kept %v, want %v", limit, best, want)
		}
	}
}
