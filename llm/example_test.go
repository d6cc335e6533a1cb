package llm_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/convo-dev/convo/llm"
)

// Provider errors match a typed kind, and rate limits say how long to wait.
func ExampleRetryAfter() {
	err := error(&llm.APIError{Provider: "anthropic", StatusCode: 429, Kind: llm.ErrRateLimited, RetryAfter: 2 * time.Second})
	if wait, ok := llm.RetryAfter(err); ok {
		fmt.Println("rate limited; retry in", wait)
	}
	fmt.Println(errors.Is(err, llm.ErrContextTooLong))
	// Output:
	// rate limited; retry in 2s
	// false
}
