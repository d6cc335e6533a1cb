//go:build cgo && sqlite_fts5

package searchdiff

import _ "github.com/mattn/go-sqlite3"

// With -tags sqlite_fts5 (and cgo) the SQLite store runs on
// mattn/go-sqlite3, whose C code the fuzzer does not instrument: it then
// spends its time on queries and texts, not on paths through SQLite's own
// code, which modernc.org/sqlite (SQLite translated to Go) would give it.
func init() { sqliteDriver = "sqlite3" }
