// Package retryafter reads how long an HTTP API asks its client to wait
// before retrying, for convo's provider clients.
package retryafter

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Parse reads retry-after-ms, then Retry-After (seconds or an HTTP-date,
// measured from now), and returns 0 when neither holds a usable value.
func Parse(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 {
			return time.Duration(s * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// Backoff returns how long to wait before retry number attempt (0 for the
// first retry) when the server names no wait: 0.5s·2^attempt, capped at
// max, less up to a quarter of jitter.
func Backoff(attempt int, max time.Duration) time.Duration {
	d := 500 * time.Millisecond
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	if j := int64(d / 4); j > 0 {
		d -= time.Duration(rand.Int64N(j))
	}
	return d
}
