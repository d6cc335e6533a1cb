package agent

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/convo-dev/convo/message"
)

// What the agent stores and sends is what every supported provider accepts:
// no text part that is empty or only whitespace (Anthropic refuses such text
// blocks: "text content blocks must contain non-whitespace text"), no
// assistant message without text or tool calls (OpenAI chat completions
// requires content on an assistant message without tool_calls), and no
// words in the model's mouth that it did not say (the interruption marker).

// blank reports whether s is empty or only whitespace.
func blank(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsSpace(r) }) < 0
}

// blankText reports whether p is a text part that is empty or whitespace.
func blankText(p message.Part) bool {
	t, ok := p.(message.Text)
	return ok && blank(t.Text)
}

// dropBlankText returns parts without its blank text parts; parts itself
// when it has none.
func dropBlankText(parts []message.Part) []message.Part {
	if !slices.ContainsFunc(parts, blankText) {
		return parts
	}
	return slices.DeleteFunc(slices.Clone(parts), blankText)
}

// hasText reports whether msg has a text part that is not blank.
func hasText(msg message.Message) bool {
	for _, p := range msg.Parts {
		if t, ok := p.(message.Text); ok && !blank(t.Text) {
			return true
		}
	}
	return false
}

// userContent reports whether a user message's parts give the model
// something to read: non-blank text, an image or binary content.
func userContent(parts []message.Part) bool {
	for _, p := range parts {
		switch v := p.(type) {
		case message.Text:
			if !blank(v.Text) {
				return true
			}
		case message.ImageURL, message.Binary:
			return true
		}
	}
	return false
}

// interruption returns the reason recorded in an interruption marker (an
// assistant message whose only part is a text starting with
// InterruptedPrefix and ending with "]"), and whether msg is one.
func interruption(msg message.Message) (string, bool) {
	if msg.Role != message.RoleAssistant || len(msg.Parts) != 1 {
		return "", false
	}
	t, ok := msg.Parts[0].(message.Text)
	if !ok {
		return "", false
	}
	reason, ok := strings.CutPrefix(t.Text, InterruptedPrefix)
	if !ok {
		return "", false
	}
	return strings.TrimSuffix(reason, "]"), true
}

// refusal reports whether msg is a refusal marker: an assistant message
// whose only part is a text starting with RefusedPrefix.
func refusal(msg message.Message) bool {
	if msg.Role != message.RoleAssistant || len(msg.Parts) != 1 {
		return false
	}
	t, ok := msg.Parts[0].(message.Text)
	return ok && strings.HasPrefix(t.Text, RefusedPrefix)
}

// dropRefused returns msgs without the turns the model refused: each
// refusal marker and everything before it back to and including the user
// message that started its turn (or back to the leading system and summary
// messages when that user message is not in msgs). Anthropic asks for a
// refused turn to be reset: continuing without resetting "will result in
// continued refusals"
// (https://platform.claude.com/docs/en/test-and-evaluate/strengthen-guardrails/handle-streaming-refusals).
// It returns msgs itself when it holds no refusal, and never changes msgs.
func dropRefused(msgs []message.Message) []message.Message {
	if !slices.ContainsFunc(msgs, refusal) {
		return msgs
	}
	out := make([]message.Message, 0, len(msgs))
	for _, m := range msgs {
		if !refusal(m) {
			out = append(out, m)
			continue
		}
		k := len(out)
	back:
		for k > 0 {
			switch out[k-1].Role {
			case message.RoleUser:
				k--
				break back
			case message.RoleSystem, message.RoleSummary:
				break back
			}
			k--
		}
		out = out[:k]
	}
	return out
}

// InterruptedNote returns the text the agent sends to the model in place of
// an interruption marker whose reason is reason: a note in a user turn, in
// the application's name, so that the model learns that its previous turn
// ended without an answer without being told it said so itself.
func InterruptedNote(reason string) string {
	return "[Note from the application, not written by the user: the assistant's previous turn ended without an answer (" +
		reason + ").]"
}

// forModel returns msgs as they are sent to the model: interruption markers
// become notes in user turns (InterruptedNote), blank text parts are left
// out, and user and assistant messages left with nothing to send (an
// assistant message with neither text nor tool calls) are left out. It
// returns msgs itself when nothing changes, and never changes msgs.
func forModel(msgs []message.Message) []message.Message {
	var out []message.Message // nil until something changes
	for i, m := range msgs {
		sent, keep, changed := sendable(m)
		if out == nil {
			if keep && !changed {
				continue
			}
			out = append(make([]message.Message, 0, len(msgs)), msgs[:i]...)
		}
		if keep {
			out = append(out, sent)
		}
	}
	if out == nil {
		return msgs
	}
	return out
}

// sendable returns m as the model is sent it, whether it is sent at all,
// and whether it differs from m.
func sendable(m message.Message) (sent message.Message, keep, changed bool) {
	switch m.Role {
	case message.RoleAssistant:
		if reason, ok := interruption(m); ok {
			note := m
			note.Role = message.RoleUser
			note.Parts = []message.Part{message.Text{Text: InterruptedNote(reason)}}
			note.Usage = nil
			return note, true, true
		}
		changed = slices.ContainsFunc(m.Parts, blankText)
		m.Parts = dropBlankText(m.Parts)
		return m, hasText(m) || slices.ContainsFunc(m.Parts, isCall), changed
	case message.RoleUser:
		changed = slices.ContainsFunc(m.Parts, blankText)
		m.Parts = dropBlankText(m.Parts)
		return m, userContent(m.Parts), changed
	case message.RoleSystem, message.RoleSummary:
		return m, hasText(m), false
	}
	return m, true, false
}

func isCall(p message.Part) bool {
	_, ok := p.(message.ToolCall)
	return ok
}

// transcript writes msgs as plain text, for a summary request: every role,
// tool call and tool result in words, so that the request holds no tool
// blocks (which Anthropic accepts only with tool definitions) and no
// assistant turn to be checked against the provider's turn rules.
func transcript(msgs []message.Message) string {
	var b strings.Builder
	line := func(format string, args ...any) {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		fmt.Fprintf(&b, format, args...)
	}
	for _, m := range msgs {
		switch m.Role {
		case message.RoleSummary:
			if hasText(m) {
				line("Summary of the conversation before this point:\n%s", m.Text())
			}
		case message.RoleSystem:
			if hasText(m) {
				line("System: %s", m.Text())
			}
		case message.RoleUser:
			for _, p := range m.Parts {
				switch v := p.(type) {
				case message.Text:
					if !blank(v.Text) {
						line("User: %s", v.Text)
					}
				case message.ImageURL:
					line("User: [an image]")
				case message.Binary:
					line("User: [a file of type %s]", v.MIMEType)
				}
			}
		case message.RoleAssistant:
			if reason, ok := interruption(m); ok {
				line("(The assistant's turn ended without an answer: %s.)", reason)
				continue
			}
			for _, p := range m.Parts {
				switch v := p.(type) {
				case message.Text:
					if !blank(v.Text) {
						line("Assistant: %s", v.Text)
					}
				case message.ToolCall:
					line("Assistant called the tool %s with input: %s", v.Name, v.Input)
				}
			}
		case message.RoleTool:
			for _, r := range m.ToolResults() {
				what := "Result"
				if r.IsError {
					what = "Error"
				}
				line("%s of the tool %s: %s", what, r.Name, r.Content)
			}
		}
	}
	return b.String()
}

// startWithUser returns msgs without the assistant and tool messages that
// come, after the leading system and summary messages, before the first
// user message: the history sent must start with a user turn (Anthropic:
// "the first message must use the user role"). A selection starts at a
// user message, so this drops something only when forModel left out that
// user message (it was blank). Tool runs are dropped whole, since a user
// message never sits between a call and its results.
func startWithUser(msgs []message.Message) []message.Message {
	head := 0
	for head < len(msgs) && (msgs[head].Role == message.RoleSystem || msgs[head].Role == message.RoleSummary) {
		head++
	}
	first := slices.IndexFunc(msgs[head:], isUser)
	if first <= 0 {
		return msgs
	}
	return append(slices.Clip(msgs[:head]), msgs[head+first:]...)
}
