// Package searchdiff holds, as tests only, the differential test of
// full-text search: random queries over random texts, run against the
// SQLite store (before and after its FTS5 index is built), the PostgreSQL
// store, the memory store and internal/searchtext's matcher, which must all
// find the same messages, never fail on a query, and highlight only what
// matched. See diff_test.go; FuzzSearchAgrees runs it under go test -fuzz.
package searchdiff
