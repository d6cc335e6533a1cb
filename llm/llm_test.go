package llm_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/convo-dev/convo/llm"
)

func TestAPIErrorMatchesItsKind(t *testing.T) {
	cause := errors.New("read: connection reset")
	err := fmt.Errorf("agent: turn: %w", &llm.APIError{Provider: "openai", StatusCode: 429, Kind: llm.ErrRateLimited,
		Message: "slow down", RetryAfter: 3 * time.Second, Err: cause})
	if !errors.Is(err, llm.ErrRateLimited) || errors.Is(err, llm.ErrServer) || !errors.Is(err, cause) {
		t.Errorf("errors.Is does not see the kind and cause of %v", err)
	}
	var api *llm.APIError
	if !errors.As(err, &api) || api.StatusCode != 429 {
		t.Errorf("errors.As: %v", err)
	}
	if d, ok := llm.RetryAfter(err); !ok || d != 3*time.Second {
		t.Errorf("RetryAfter = %v, %v", d, ok)
	}
	if _, ok := llm.RetryAfter(&llm.APIError{Provider: "x", Kind: llm.ErrServer}); ok {
		t.Error("RetryAfter reports a server error as rate limiting")
	}
	want := "openai: rate limited (HTTP 429): slow down (retry after 3s)"
	if got := api.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
