package jsonerr

import (
	"encoding/json"
	"testing"
)

func TestDescribe(t *testing.T) {
	var v struct {
		CreatedAt int64             `json:"created_at"`
		Name      string            `json:"name"`
		Tags      []string          `json:"tags"`
		Meta      map[string]string `json:"meta"`
		OK        bool              `json:"ok"`
		Ratio     float64           `json:"ratio"`
	}
	for _, tc := range []struct{ in, want string }{
		{`{"created_at":"yesterday"}`, `field "created_at" holds a JSON string, want an integer`},
		{`{"name":1}`, `field "name" holds a JSON number, want a string`},
		{`{"tags":{}}`, `field "tags" holds a JSON object, want an array`},
		{`{"meta":[]}`, `field "meta" holds a JSON array, want an object`},
		{`{"ok":"yes"}`, `field "ok" holds a JSON string, want true or false`},
		{`{"ratio":"x"}`, `field "ratio" holds a JSON string, want a number`},
		{`[1]`, `a value holds a JSON array, want an object`},
		{`{"name":`, `unexpected end of JSON input`},
	} {
		err := json.Unmarshal([]byte(tc.in), &v)
		if got := Describe(err); got != tc.want {
			t.Errorf("Describe(%s) = %q, want %q (from %v)", tc.in, got, tc.want, err)
		}
	}
}
