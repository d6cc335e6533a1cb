package message_test

import (
	"encoding/json"
	"fmt"

	"github.com/convo-dev/convo/message"
)

// A user message and its parts as a store keeps them: a JSON array in
// format version 1.
func ExampleMarshalParts() {
	m := message.NewUserMessage("What's the weather in Oslo?")
	fmt.Println(m.Role, m.Content(), m.ID != "", m.CreatedAt > 0)

	data, err := message.MarshalParts(m.Parts)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(string(data))
	// Output:
	// user What's the weather in Oslo? true true
	// [{"type":"text","text":"What's the weather in Oslo?"}]
}

// Reading the tool calls of a stored assistant message and answering them.
func ExampleMessage_ToolCalls() {
	stored := `[{"type":"text","text":"Checking both."},` +
		`{"type":"tool_call","id":"call_1","name":"weather","input":"{\"city\":\"Oslo\"}"},` +
		`{"type":"tool_call","id":"call_2","name":"weather","input":"{\"city\":\"Bergen\"}"}]`
	parts, err := message.UnmarshalParts([]byte(stored))
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	m := message.Message{Role: message.RoleAssistant, Parts: parts}
	fmt.Println(m.Content())

	var results []message.ToolResult
	for _, call := range m.ToolCalls() {
		var args struct{ City string }
		if err := json.Unmarshal(call.Input, &args); err != nil {
			results = append(results, message.ToolResult{CallID: call.ID, Name: call.Name, Content: err.Error(), IsError: true})
			continue
		}
		fmt.Printf("%s %s(%s)\n", call.ID, call.Name, args.City)
		results = append(results, message.ToolResult{CallID: call.ID, Name: call.Name, Content: "rain in " + args.City})
	}
	reply := message.NewToolResultMessage(results...)
	for _, r := range reply.ToolResults() {
		fmt.Println(r.CallID, "->", r.Content)
	}
	// Output:
	// Checking both.
	// call_1 weather(Oslo)
	// call_2 weather(Bergen)
	// call_1 -> rain in Oslo
	// call_2 -> rain in Bergen
}

// A part type from a later release is kept as Unknown and written back
// unchanged.
func ExampleUnknown() {
	parts, _ := message.UnmarshalParts([]byte(`[{"type":"video", "url":"https://x/v.mp4"}]`))
	u := parts[0].(message.Unknown)
	fmt.Println(u.Type)
	data, _ := message.MarshalParts(parts)
	fmt.Println(string(data))
	// Output:
	// video
	// [{"type":"video", "url":"https://x/v.mp4"}]
}
