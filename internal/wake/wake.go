// Package wake lets goroutines wait for the next of a series of events
// without missing one: the change feeds of the SQL stores wake their
// watches with it after each commit.
package wake

import "sync"

// Signal wakes every goroutine waiting on it at the next Notify. The zero
// value is ready to use; it is safe for concurrent use. Notify costs a
// lock and an unlock when nobody waits.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// Wait returns a channel that the next Notify closes. Take it before
// looking for the event, so that an event after the look is not missed.
func (s *Signal) Wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Notify wakes every goroutine waiting on a channel Wait returned.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
