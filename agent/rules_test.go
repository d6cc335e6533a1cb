package agent_test

import "github.com/convo-dev/convo/llm"

// providers are the provider families whose request rules the agent's
// tests enforce.
func providers() []provider {
	return []provider{{name: "unchecked", check: func(llm.Request) error { return nil }}}
}
