// Package modernc runs the SQLite store's driver tests with
// modernc.org/sqlite, the pure-Go driver.
package modernc
