package session_test

import (
	"encoding/json"
	"fmt"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// A program stopped after storing an assistant message that called two
// tools and the result of only one of them. Check finds the missing result;
// Repair (or RepairSuffix, for a writer that can only append) adds a
// synthesized "interrupted" result so the session can be sent to a
// provider again.
func ExampleRepair() {
	msgs := []message.Message{
		{ID: "m1", Role: message.RoleUser, Parts: []message.Part{message.Text{Text: "Weather in Oslo and Bergen?"}}, CreatedAt: 100},
		{ID: "m2", Role: message.RoleAssistant, CreatedAt: 200, Parts: []message.Part{
			message.ToolCall{ID: "call_1", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)},
			message.ToolCall{ID: "call_2", Name: "weather", Input: json.RawMessage(`{"city":"Bergen"}`)},
		}},
		{ID: "m3", Role: message.RoleTool, CreatedAt: 300, Parts: []message.Part{
			message.ToolResult{CallID: "call_1", Name: "weather", Content: "4°C, rain"},
		}},
	}

	for _, p := range session.Check(msgs) {
		fmt.Println(p)
	}

	repaired, fixed := session.Repair(msgs)
	fmt.Println("fixed:", len(fixed), "valid now:", session.Check(repaired) == nil)
	added := repaired[len(repaired)-1]
	r := added.ToolResults()[0]
	fmt.Println(added.Role, added.CreatedAt, r.CallID, r.IsError, r.Synthesized)
	fmt.Println(r.Content)

	suffix, ok := session.RepairSuffix(msgs)
	fmt.Println("append-only fix:", ok, len(suffix), "message")
	// Output:
	// message 1 (id m2): tool call call_2 (weather) has no result
	// fixed: 1 valid now: true
	// tool 301 call_2 true true
	// interrupted: no result was recorded for this tool call (the program stopped before the tool finished)
	// append-only fix: true 1 message
}
