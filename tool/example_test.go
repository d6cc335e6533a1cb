package tool_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/tool"
)

func Example() {
	type args struct {
		// A comma inside a jsonschema tag value is written \\, (a bare
		// comma ends the value: "City name, e.g. Oslo" would lose ", e.g. Oslo").
		City string `json:"city" jsonschema:"description=City name\\, e.g. Oslo"`
	}
	weather := tool.Func("weather", "Current weather in a city",
		func(ctx context.Context, a args) (string, error) {
			return "4°C and clear in " + a.City, nil
		})
	fmt.Println(string(weather.Spec().Parameters))

	ctx := context.Background()
	ok := tool.Call(ctx, weather, message.ToolCall{ID: "c1", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)}, 0)
	fmt.Println(ok.Content)

	bad := tool.Call(ctx, weather, message.ToolCall{ID: "c2", Name: "weather", Input: json.RawMessage(`{"town":"Oslo"}`)}, 0)
	fmt.Println(bad.IsError, bad.Content)
	// Output:
	// {"properties":{"city":{"type":"string","description":"City name, e.g. Oslo"}},"additionalProperties":false,"type":"object","required":["city"]}
	// 4°C and clear in Oslo
	// true error: invalid arguments for weather: arguments: missing required field(s) city. Call the tool again with arguments matching its schema.
}
