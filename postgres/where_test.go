package postgres

import "testing"

// An open refused for what it found names where it looked, without empty
// names: `(schema "", prefix "")` was noise in the ordinary case.
func TestWhereNamesOnlyWhatWasGiven(t *testing.T) {
	for _, c := range []struct{ schema, prefix, want string }{
		{"", "", "the search_path's schema"},
		{"chat", "", `schema "chat"`},
		{"", "chat_", `the search_path's schema, prefix "chat_"`},
		{"chat", "x_", `schema "chat", prefix "x_"`},
	} {
		s := &Store{opts: storeOptions{schema: c.schema, prefix: c.prefix}}
		if got := s.where(); got != c.want {
			t.Errorf("schema %q, prefix %q: %q; want %q", c.schema, c.prefix, got, c.want)
		}
	}
}
