package searchtext_test

import (
	"fmt"

	"github.com/convo-dev/convo/internal/searchtext"
)

// Terms are what a store indexes: words normalised (case, width,
// diacritics), and runs of a script written without spaces cut into
// overlapping pairs plus their last character.
func ExampleTerms() {
	fmt.Println(searchtext.Terms("Un CAFÉ à Zürich"))
	fmt.Println(searchtext.Terms("東京都に行く"))
	// Output:
	// un cafe a zurich
	// 東京 京都 都に に行 行く く
}

// A query is parsed once; every store checks a candidate and marks its
// matches with it.
func ExampleQuery_Highlight() {
	q := searchtext.Parse(`"new york" conf*`)
	snippet, ok := q.Highlight("The configuration moved to New York in May.", "[", "]")
	fmt.Println(ok, snippet)
	_, ok = q.Highlight("A new office in York.", "[", "]")
	fmt.Println(ok)
	// Output:
	// true The [configuration] moved to [New York] in May.
	// false
}
