// Package ncruces runs the SQLite store's driver tests with
// github.com/ncruces/go-sqlite3.
package ncruces
