//go:build cgo

package mattn_test

import (
	"os"
	"testing"

	"github.com/convo-dev/convo/sqlite/internal/drivertest"
	_ "github.com/mattn/go-sqlite3"
)

var driver = drivertest.Driver{
	Name:      "sqlite3",
	FileDSN:   func(path string) string { return path },
	MemoryDSN: ":memory:",
}

func TestMain(m *testing.M) {
	drivertest.Main(driver)
	os.Exit(m.Run())
}

func TestMattn(t *testing.T) { drivertest.Run(t, driver) }
