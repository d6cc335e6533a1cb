package wake_test

import (
	"fmt"
	"sync/atomic"

	"github.com/convo-dev/convo/internal/wake"
)

// A consumer takes the channel before it looks, so an event that comes
// after the look still wakes it.
func Example() {
	var sig wake.Signal
	var events atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			w := sig.Wait()
			if events.Load() == 3 {
				fmt.Println("saw 3 events")
				return
			}
			<-w
		}
	}()
	for range 3 {
		events.Add(1)
		sig.Notify()
	}
	<-done
	// Output:
	// saw 3 events
}
