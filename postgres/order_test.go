package postgres

import (
	"fmt"
	"slices"
	"testing"

	"github.com/convo-dev/convo/message"
)

// TestInOrder checks that rows in any order come back oldest first: the
// last-n read returns them newest first, the whole-session read oldest
// first, and the store must not depend on either.
func TestInOrder(t *testing.T) {
	for _, seqs := range [][]int64{nil, {7}, {1, 2, 3, 9}, {9, 3, 2, 1}, {3, 1, 9, 2}, {2, 9, 1, 3}} {
		msgs := make([]message.Message, len(seqs))
		for i, s := range seqs {
			msgs[i].ID = fmt.Sprint(s)
		}
		want := slices.Clone(seqs)
		slices.Sort(want)
		inOrder(msgs, slices.Clone(seqs))
		got := make([]int64, len(msgs))
		for i, m := range msgs {
			fmt.Sscan(m.ID, &got[i])
		}
		if !slices.Equal(got, want) {
			t.Errorf("inOrder of %v gave %v, want %v", seqs, got, want)
		}
	}
}
