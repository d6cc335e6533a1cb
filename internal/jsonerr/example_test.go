package jsonerr_test

import (
	"encoding/json"
	"fmt"

	"github.com/convo-dev/convo/internal/jsonerr"
)

func ExampleDescribe() {
	var v struct {
		CreatedAt int64 `json:"created_at"`
	}
	err := json.Unmarshal([]byte(`{"created_at": "yesterday"}`), &v)
	fmt.Println(err)
	fmt.Println(jsonerr.Describe(err))
	// Output:
	// json: cannot unmarshal string into Go struct field .created_at of type int64
	// field "created_at" holds a JSON string, want an integer
}
