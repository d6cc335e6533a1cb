package message_test

import (
	"reflect"

	"github.com/google/go-cmp/cmp"
)

// cmpDiff is cmp.Diff with a fast path: reflect.DeepEqual is far cheaper than
// cmp on large byte slices (cmp walks them element by element), and most
// comparisons in these tests are equal.
func cmpDiff(want, got any, opts ...cmp.Option) string {
	if reflect.DeepEqual(want, got) {
		return ""
	}
	return cmp.Diff(want, got, opts...)
}
