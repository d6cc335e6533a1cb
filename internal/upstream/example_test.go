package upstream_test

import (
	"fmt"

	"github.com/convo-dev/convo/internal/upstream"
	"github.com/convo-dev/convo/message"
)

// A row of github.com/joakimcarlsson/ai's messages table becomes a convo
// message: the columns give its id, role, model and time, the JSON its
// parts.
func ExampleConvert() {
	m, err := upstream.Convert(upstream.Row{
		ID: "17", SessionID: "s1", Role: "assistant", Model: "gpt-4o", CreatedAt: 1732460000,
		Parts: []byte(`{"role":"assistant","parts":[{"type":"text","data":{"text":"Let me look."}},` +
			`{"type":"tool_call","data":{"id":"call_1","name":"weather","input":"{\"city\":\"Paris\"}","type":"function","finished":true}}]}`),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.ID, m.Role, m.Model)
	for _, p := range m.Parts {
		switch p := p.(type) {
		case message.Text:
			fmt.Printf("text %q\n", p.Text)
		case message.ToolCall:
			fmt.Printf("tool call %s %s %s\n", p.ID, p.Name, p.Input)
		}
	}
	// Output:
	// 17 assistant gpt-4o
	// text "Let me look."
	// tool call call_1 weather {"city":"Paris"}
}
