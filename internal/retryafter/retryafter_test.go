package retryafter

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{}, 0},
		{http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"9"}}, 1500 * time.Millisecond},
		{http.Header{"Retry-After-Ms": {"nope"}, "Retry-After": {"2"}}, 2 * time.Second},
		{http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		{http.Header{"Retry-After": {"0"}}, 0},
		{http.Header{"Retry-After": {"-3"}}, 0},
		{http.Header{"Retry-After": {now.Add(30 * time.Second).Format(http.TimeFormat)}}, 30 * time.Second},
		{http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{http.Header{"Retry-After": {"soon"}}, 0},
	} {
		if got := Parse(tc.h, now); got != tc.want {
			t.Errorf("Parse(%v) = %v, want %v", tc.h, got, tc.want)
		}
	}
}

func ExampleParse() {
	h := http.Header{"Retry-After": {"2"}}
	fmt.Println(Parse(h, time.Now()))
	// Output: 2s
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		max     time.Duration
		ceiling time.Duration // the wait without jitter
	}{
		{0, 8 * time.Second, 500 * time.Millisecond},
		{3, 8 * time.Second, 4 * time.Second},
		{10, 8 * time.Second, 8 * time.Second},
		{2, time.Second, time.Second},
		{5, time.Millisecond, time.Millisecond},
	} {
		for range 50 {
			got := Backoff(tc.attempt, tc.max)
			// Jitter takes off less than a quarter.
			if got > tc.ceiling || got <= tc.ceiling-tc.ceiling/4 {
				t.Fatalf("Backoff(%d, %s) = %s, want in (%s, %s]", tc.attempt, tc.max, got, tc.ceiling-tc.ceiling/4, tc.ceiling)
			}
		}
	}
}
