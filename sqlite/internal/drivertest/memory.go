package drivertest

import (
	"context"
	"errors"
	"testing"
	"time"
)

// testMemoryCancelled checks that calls cut short by their context keep a
// private in-memory database, which lives only as long as its one
// connection. database/sql closes a transaction's connection when the
// transaction's context ends before it does, unless the driver implements
// both driver.SessionResetter and driver.Validator (database/sql's
// Tx.awaitDone and DB.beginDC, Go 1.26): mattn and ncruces do not, so a
// store that began its transactions under the caller's context lost the
// whole database to one cancelled append (found by the conformance suite's
// "a fork cut short by its context" on memory_one_conn, CI 2026-11-26).
func testMemoryCancelled(t *testing.T, d Driver) {
	st := openMemory(t, d)
	s, err := st.Create(t.Context(), "s")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	want := 0
	for i := range 300 {
		// Deadlines from nothing to about 3 ms, so that some end before
		// the call starts, some inside its transaction, and some after.
		ctx, cancel := context.WithTimeout(t.Context(), time.Duration(i%30)*100*time.Microsecond)
		var err error
		if i%3 == 2 {
			_, err = s.GetMessages(ctx, nil)
		} else {
			err = s.AddMessages(ctx, turn("w", i))
			if err == nil {
				want += 4
			}
		}
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call %d: %v, want nil or context.DeadlineExceeded", i, err)
		}
	}
	ok, err := st.Exists(t.Context(), "s")
	if err != nil || !ok {
		t.Fatalf("after cancelled calls: Exists = %v, %v; want the session still there", ok, err)
	}
	got, err := s.GetMessages(t.Context(), nil)
	if err != nil {
		t.Fatalf("GetMessages: %v", err)
	}
	if len(got) != want {
		t.Fatalf("after cancelled calls: %d messages, want %d (one per message of each append that returned nil)", len(got), want)
	}
}
