package ncruces_test

import (
	"database/sql"
	"os"
	"testing"

	"github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/ext/fts5"

	"github.com/convo-dev/convo/sqlite/internal/drivertest"
)

var ncruces = drivertest.Driver{
	Name:      "sqlite3",
	FileDSN:   func(path string) string { return "file:" + path },
	MemoryDSN: ":memory:",
	// FTS5 is an extension registered per connection.
	Open:            func(dsn string) (*sql.DB, error) { return driver.Open(dsn, fts5.Register) },
	OpenWithoutFTS5: func(dsn string) (*sql.DB, error) { return sql.Open("sqlite3", dsn) },
}

func TestMain(m *testing.M) {
	drivertest.Main(ncruces)
	os.Exit(m.Run())
}

func TestNcruces(t *testing.T) { drivertest.Run(t, ncruces) }
