package providerrules_test

import (
	"fmt"

	"github.com/convo-dev/convo/llm/llmtest/providerrules"
)

func ExampleCheckAnthropic() {
	// A history whose tool call was never answered: the API would refuse it.
	body := []byte(`{"model":"claude-sonnet-4-5","max_tokens":1024,"tools":[],"messages":[
		{"role":"user","content":"Weather in Oslo?"},
		{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"weather","input":{}}]},
		{"role":"user","content":"Never mind."}]}`)
	err := providerrules.CheckAnthropic(body)
	fmt.Println(providerrules.Rules(err))
	// Output: [anthropic/tool-use-answered]
}
