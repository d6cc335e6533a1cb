package ncruces_test

import (
	"os"
	"testing"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/convo-dev/convo/sqlite/internal/drivertest"
)

var driver = drivertest.Driver{
	Name:      "sqlite3",
	FileDSN:   func(path string) string { return "file:" + path },
	MemoryDSN: ":memory:",
}

func TestMain(m *testing.M) {
	drivertest.Main(driver)
	os.Exit(m.Run())
}

func TestNcruces(t *testing.T) { drivertest.Run(t, driver) }
