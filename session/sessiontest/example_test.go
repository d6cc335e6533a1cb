package sessiontest_test

import (
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/session/sessiontest"
)

// A backend runs the suite from a test function, as TestConformance below
// does for the memory store. The example runs that test function through
// testing.RunTests, which go test itself uses, only so that it can run as
// an example; a backend writes just TestConformance.
func ExampleRun() {
	TestConformance := func(t *testing.T) {
		sessiontest.Run(t, func(t *testing.T) session.Store {
			return session.NewMemoryStore() // a fresh, empty store for every check
		})
	}

	// The suite's own report (one line per check with -v) is not part of
	// the example's output; RunTests says whether every check passed.
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	stdout := os.Stdout
	os.Stdout = devNull
	ok := testing.RunTests(regexp.MatchString, []testing.InternalTest{
		{Name: "ExampleRun", F: TestConformance}, // the name -run selects it by
	})
	os.Stdout = stdout
	devNull.Close()
	fmt.Println("the memory store passes the suite:", ok)
	// Output: the memory store passes the suite: true
}
