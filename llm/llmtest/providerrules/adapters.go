package providerrules

import (
	"fmt"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/anthropic"
	"github.com/convo-dev/convo/llm/gemini"
	"github.com/convo-dev/convo/llm/openai"
)

// Anthropic returns a check that encodes each request with c, exactly as c
// would send it (c.RequestBody), and runs CheckAnthropic on the body. A
// request c refuses to encode fails with c's error (matching
// llm.ErrBadRequest): the real client would not send it either. The check
// does no I/O and is safe for concurrent use.
func Anthropic(c *anthropic.Client) func(llm.Request) error {
	return func(req llm.Request) error {
		body, err := c.RequestBody(req)
		if err != nil {
			return fmt.Errorf("providerrules: %w", err)
		}
		return CheckAnthropic(body)
	}
}

// OpenAI returns a check that encodes each request with c, exactly as c
// would send it (c.RequestBody), and runs CheckOpenAI on the body with
// opts. A request c refuses to encode fails with c's error (matching
// llm.ErrBadRequest). The check does no I/O and is safe for concurrent use.
func OpenAI(c *openai.Client, opts ...OpenAIOption) func(llm.Request) error {
	return func(req llm.Request) error {
		body, err := c.RequestBody(req)
		if err != nil {
			return fmt.Errorf("providerrules: %w", err)
		}
		return CheckOpenAI(body, opts...)
	}
}

// Gemini returns a check that encodes each request with c, exactly as c
// would send it (c.RequestBody: the SDK's own bytes), and runs CheckGemini
// on the body with opts. A request c refuses to encode fails with c's error
// (matching llm.ErrBadRequest). The check does no network I/O and is safe
// for concurrent use.
func Gemini(c *gemini.Client, opts ...GeminiOption) func(llm.Request) error {
	return func(req llm.Request) error {
		body, err := c.RequestBody(req)
		if err != nil {
			return fmt.Errorf("providerrules: %w", err)
		}
		return CheckGemini(body, opts...)
	}
}
