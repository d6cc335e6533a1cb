package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"slices"
	"strings"

	"github.com/convo-dev/convo/internal/upstream"
	"github.com/convo-dev/convo/message"
)

// convView is a conversation prepared for people: tool results are paired
// with their calls, so a reader sees each call next to what came back.
// Both `convo show` and the web viewer render it.
type convView struct {
	Messages []msgView
}

// msgView is one message with its parts prepared.
type msgView struct {
	Index int // 1-based position in the session
	// Seq is the message's Seq in the store (the web viewer's anchor).
	Seq   int64
	Msg   message.Message
	Parts []partView
	// Empty is set when every part was shown elsewhere (a tool message
	// whose results are all paired with their calls).
	Empty bool
	// Unreadable is set, to the error, for a stored row that could not be
	// decoded; Msg and Parts are then empty.
	Unreadable string
}

// partView is one part prepared for display. Kind says which fields are
// set.
type partView struct {
	Kind string // text, reasoning, image, binary, call, result, extra, unknown

	Text string // text, reasoning, result content, unknown type

	Redacted bool // reasoning
	// SignatureOnly: reasoning that is only the provider's signature, no
	// text (Gemini's thought signatures are stored this way).
	SignatureOnly bool

	ImageURL string // image: an http(s) or data:image URL, checked
	MIMEType string // binary
	Size     int    // binary: bytes
	Name     string // binary name, call or result name

	CallID      string // call, result
	Args        string // call: pretty-printed JSON input
	Synthesized bool   // call, result
	IsError     bool   // result
	Result      *partView

	// Set by the web viewer: HTML is the rendered Markdown of Text (text,
	// reasoning); Folded says Text or Args were cut, and FullURL shows
	// the whole message.
	HTML    template.HTML
	Folded  bool
	FullURL string
}

// buildView prepares msgs for display.
func buildView(msgs []message.Message) convView {
	paired := map[[2]int]bool{}       // (message, part) of results shown with their call
	results := map[[2]int]*partView{} // (message, part) of calls -> their result
	for i, m := range msgs {
		if m.Role != message.RoleAssistant {
			continue
		}
		calls := map[string]int{}
		for k, p := range m.Parts {
			if c, ok := p.(message.ToolCall); ok {
				if _, dup := calls[c.ID]; !dup {
					calls[c.ID] = k
				}
			}
		}
		if len(calls) == 0 {
			continue
		}
		for j := i + 1; j < len(msgs) && msgs[j].Role == message.RoleTool; j++ {
			for k, p := range msgs[j].Parts {
				r, ok := p.(message.ToolResult)
				if !ok {
					continue
				}
				ck, ok := calls[r.CallID]
				if !ok || results[[2]int{i, ck}] != nil {
					continue
				}
				rv := resultView(r)
				results[[2]int{i, ck}] = &rv
				paired[[2]int{j, k}] = true
			}
		}
	}
	var v convView
	for i, m := range msgs {
		mv := msgView{Index: i + 1, Msg: m}
		for k, p := range m.Parts {
			if paired[[2]int{i, k}] {
				continue
			}
			pv := partOf(p)
			if pv.Kind == "call" {
				pv.Result = results[[2]int{i, k}]
			}
			mv.Parts = append(mv.Parts, pv)
		}
		mv.Empty = len(mv.Parts) == 0 && len(m.Parts) > 0
		v.Messages = append(v.Messages, mv)
	}
	return v
}

func resultView(r message.ToolResult) partView {
	content := r.Content
	if t := strings.TrimSpace(content); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		if json.Valid([]byte(t)) {
			content = prettyJSON([]byte(t))
		}
	}
	return partView{Kind: "result", Text: content, Name: r.Name, CallID: r.CallID,
		IsError: r.IsError, Synthesized: r.Synthesized}
}

func partOf(p message.Part) partView {
	switch p := p.(type) {
	case message.Text:
		return partView{Kind: "text", Text: p.Text}
	case message.Reasoning:
		return partView{Kind: "reasoning", Text: p.Text, Redacted: p.Redacted,
			SignatureOnly: !p.Redacted && p.Text == "" && p.Signature != ""}
	case message.ImageURL:
		return partView{Kind: "image", ImageURL: p.URL}
	case message.Binary:
		pv := partView{Kind: "binary", MIMEType: p.MIMEType, Size: len(p.Data), Name: p.Name}
		if displayableImage(p.MIMEType) {
			pv.Kind = "image"
			pv.ImageURL = "data:" + p.MIMEType + ";base64," + base64.StdEncoding.EncodeToString(p.Data)
		}
		return pv
	case message.ToolCall:
		return partView{Kind: "call", Name: p.Name, CallID: p.ID, Args: prettyJSON(p.Input), Synthesized: p.Synthesized}
	case message.ToolResult:
		return resultView(p)
	case message.Unknown:
		if pv, ok := upstreamExtra(p); ok {
			return pv
		}
		raw, _ := message.MarshalParts([]message.Part{p})
		return partView{Kind: "unknown", Name: p.PartType(), Text: string(raw)}
	default:
		raw, _ := message.MarshalParts([]message.Part{p})
		return partView{Kind: "unknown", Name: p.PartType(), Text: string(raw)}
	}
}

// upstreamExtra returns the view of a part that an upgrade from
// joakimcarlsson/ai wrote beside a tool call, holding what convo's ToolCall
// has no field for (see internal/upstream): kind "extra", the call's id in
// CallID and the names of the values kept in Name ("thought_signature"),
// so that it reads as what it is rather than as a part of unknown type.
func upstreamExtra(p message.Unknown) (partView, bool) {
	if p.Type != upstream.ExtraType {
		return partView{}, false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(p.Raw, &fields); err != nil {
		return partView{}, false
	}
	var callID string
	if err := json.Unmarshal(fields["call_id"], &callID); err != nil {
		return partView{}, false
	}
	var kept []string
	for k := range fields {
		if k != "call_id" && k != "type" {
			kept = append(kept, k)
		}
	}
	slices.Sort(kept)
	return partView{Kind: "extra", CallID: callID, Name: strings.Join(kept, ", ")}, true
}

// displayableImage reports whether a binary part of this MIME type is shown
// as an image: raster formats only (an SVG may carry script).
func displayableImage(mime string) bool {
	switch strings.ToLower(mime) {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return true
	}
	return false
}

// prettyJSON indents a tool call's JSON input, or returns it as it is when
// it is not valid JSON (a model's malformed arguments are kept as produced).
func prettyJSON(raw []byte) string {
	if len(bytes.TrimSpace(raw)) == 0 {
		return "{}"
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// humanSize formats a byte count.
func humanSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return plural(n, "byte", "bytes")
}
