// Package mattn runs the SQLite store's driver tests with
// github.com/mattn/go-sqlite3, which needs cgo.
package mattn
