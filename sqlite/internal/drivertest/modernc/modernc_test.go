package modernc_test

import (
	"os"
	"testing"

	"github.com/convo-dev/convo/sqlite/internal/drivertest"
	_ "modernc.org/sqlite"
)

var driver = drivertest.Driver{
	Name:      "sqlite",
	FileDSN:   func(path string) string { return path },
	MemoryDSN: ":memory:",
}

func TestMain(m *testing.M) {
	drivertest.Main(driver)
	os.Exit(m.Run())
}

func TestModernc(t *testing.T) { drivertest.Run(t, driver) }
