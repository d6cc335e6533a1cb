package providerrules

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Sources cited below:
//
//   - [openai-strict] https://platform.openai.com/docs/guides/structured-outputs
//     ("Supported schemas": "the root level object must be an object",
//     "all fields must be required", and "additionalProperties: false must
//     always be set in objects"); the API answers 400 "Invalid schema for
//     response_format ...: In context=(), 'additionalProperties' is
//     required to be supplied and to be false" (reported in
//     github.com/trycompai/comp/pull/2792);
//   - [anthropic-so] https://platform.claude.com/docs/en/build-with-claude/structured-outputs
//     (JSON Schema limitations: objects must set additionalProperties to
//     false; the link is the one anthropic-sdk-go v1.84.0 gives on
//     OutputConfigParam.Format).

// schemaProblems walks a JSON schema and reports, for every object node,
// additionalProperties other than false and, when allRequired, a property
// missing from required. It returns "path: problem" strings in a stable
// order.
func schemaProblems(raw json.RawMessage, allRequired bool) []string {
	var root any
	if err := json.Unmarshal(raw, &root); err != nil {
		return []string{"$: not JSON: " + err.Error()}
	}
	var out []string
	var walk func(v any, path string)
	walk = func(v any, path string) {
		n, ok := v.(map[string]any)
		if !ok {
			return
		}
		props, _ := n["properties"].(map[string]any)
		if n["type"] == "object" || props != nil {
			if ap, ok := n["additionalProperties"].(bool); !ok || ap {
				out = append(out, path+": additionalProperties is not false")
			}
			if allRequired {
				req := map[string]bool{}
				rs, _ := n["required"].([]any)
				for _, r := range rs {
					if s, ok := r.(string); ok {
						req[s] = true
					}
				}
				keys := make([]string, 0, len(props))
				for k := range props {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					if !req[k] {
						out = append(out, fmt.Sprintf("%s: property %q is not required", path, k))
					}
				}
			}
		}
		keys := make([]string, 0, len(props))
		for k := range props {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walk(props[k], path+".properties."+k)
		}
		walk(n["items"], path+".items")
		for _, kw := range []string{"anyOf", "allOf", "oneOf"} {
			subs, _ := n[kw].([]any)
			for i, s := range subs {
				walk(s, fmt.Sprintf("%s.%s[%d]", path, kw, i))
			}
		}
		defs, _ := n["$defs"].(map[string]any)
		for k, d := range defs {
			walk(d, path+".$defs."+k)
		}
	}
	walk(root, "$")
	return out
}
