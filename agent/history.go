package agent

import (
	"github.com/convo-dev/convo/message"
)

// History chooses which stored messages are sent to the model.
//
// The agent gives Select the messages that follow the latest summary message
// (or all of those it read, when there is no summary); the summary, if any,
// and the system prompt are sent in addition. Select returns a suffix of
// msgs that starts at a clean cut: a message that is not a tool message, so
// that no tool result is sent without the call it answers and no call
// without its results. Implementations are safe for concurrent use. When
// the selection holds no user message (a turn whose tool rounds fill it),
// the agent sends the turn's user message before it.
type History interface {
	// Window is how many of the newest stored messages the agent needs to
	// read for Select to choose from; a negative value reads them all.
	Window() int
	// Select returns the messages to send: a suffix of msgs starting at a
	// clean cut.
	Select(msgs []message.Message) []message.Message
}

// All returns a History that sends every message (after the latest summary).
// Each turn then reads the whole session; prefer LastN or TokenBudget, with
// compaction, for long conversations.
func All() History { return allHistory{} }

type allHistory struct{}

func (allHistory) Window() int { return -1 }

func (allHistory) Select(msgs []message.Message) []message.Message { return cleanSuffix(msgs, 0) }

// LastN returns a History that sends at most the last n messages, cut at a
// clean point: from the first user message among them, or, when the last n
// hold none (one turn with many tool rounds), from the first message among
// them that is not a tool message. Only when the last n messages are all
// tool messages does it go further back, to the assistant message whose
// calls they answer, and so send more than n. n < 1 is read as 1.
func LastN(n int) History {
	if n < 1 {
		n = 1
	}
	return lastN(n)
}

type lastN int

func (n lastN) Window() int { return int(n) }

func (n lastN) Select(msgs []message.Message) []message.Message {
	return cleanSuffix(msgs, max(0, len(msgs)-int(n)))
}

// TokenBudget returns a History that sends the longest clean suffix whose
// estimated size (see EstimateTokens) is at most tokens, cut as LastN cuts.
// When even the newest run (the last message, or an assistant message and its
// tool results) is larger, that run is sent alone, over budget.
func TokenBudget(tokens int) History {
	if tokens < 1 {
		tokens = 1
	}
	return tokenBudget(tokens)
}

type tokenBudget int

// Window is tokens/4+2: every message is estimated at 4 tokens or more, so
// no more than tokens/4 messages can fit.
func (t tokenBudget) Window() int { return int(t)/messageOverhead + 2 }

func (t tokenBudget) Select(msgs []message.Message) []message.Message {
	start, total := len(msgs), 0
	for start > 0 {
		c := EstimateTokens(msgs[start-1])
		if total+c > int(t) {
			break
		}
		total += c
		start--
	}
	return cleanSuffix(msgs, start)
}

// cleanSuffix returns msgs from the best clean cut at or after start: the
// first user message, else the first non-tool message; if there is neither,
// the nearest non-tool message before start.
func cleanSuffix(msgs []message.Message, start int) []message.Message {
	for i := start; i < len(msgs); i++ {
		if msgs[i].Role == message.RoleUser {
			return msgs[i:]
		}
	}
	for i := start; i < len(msgs); i++ {
		if msgs[i].Role != message.RoleTool {
			return msgs[i:]
		}
	}
	for i := min(start, len(msgs)) - 1; i >= 0; i-- {
		if msgs[i].Role != message.RoleTool {
			return msgs[i:]
		}
	}
	return msgs
}

// Token estimate constants (see EstimateTokens).
const (
	messageOverhead = 4
	imageTokens     = 765
)

// EstimateTokens estimates how many tokens m costs in a request, without a
// tokenizer: 4 per message, plus one per 4 bytes of text, reasoning, tool
// names, tool-call input and tool-result content, plus 765 per image (an
// image URL or a binary part with an image/ MIME type: OpenAI's cost of a
// 1024×1024 high-detail image) and one per 4 bytes of other binary data.
// Four bytes per token is the usual rule of thumb for English text with
// GPT- and Claude-family tokenizers; code and other languages cost more, so
// leave headroom below the model's real limit.
func EstimateTokens(m message.Message) int {
	n := messageOverhead
	quarter := func(b int) int { return (b + 3) / 4 }
	for _, p := range m.Parts {
		switch v := p.(type) {
		case message.Text:
			n += quarter(len(v.Text))
		case message.Reasoning:
			n += quarter(len(v.Text))
		case message.ToolCall:
			n += quarter(len(v.Name) + len(v.Input))
		case message.ToolResult:
			n += quarter(len(v.Name) + len(v.Content))
		case message.ImageURL:
			n += imageTokens
		case message.Binary:
			if len(v.MIMEType) >= 6 && v.MIMEType[:6] == "image/" {
				n += imageTokens
			} else {
				n += quarter(len(v.Data))
			}
		}
	}
	return n
}

// Compaction keeps the history sent to the model bounded by summarising it.
//
// Before a turn starts, when more than AfterMessages messages (or, if
// AfterTokens is set, more than AfterTokens estimated tokens) follow the
// latest summary, the agent asks the model, in a separate request, for a
// summary of everything up to that point (the previous summary included) and
// stores it as a message.RoleSummary message, in the same atomic write as
// the turn's user message. The history is sent in that request as a plain
// transcript in one user message (tool calls and results in words), so that
// the request is valid for every provider whatever the history holds: no
// tool blocks without tool definitions, no continued tool-use turn. A
// summary that comes back empty, cut off by the output limit, filtered or
// refused is not stored. A summary stands for every message stored before
// it: later requests send the system prompt, the latest summary and the
// messages after it (as chosen by the History strategy), while the full
// record stays in the store. A failed summary request does not fail the
// turn: it is reported as a Notice and tried again on the next turn.
//
// Compaction is checked only on the messages the agent reads (the History
// window, widened to AfterMessages+2): on a long session that had no
// summary, the first summary covers that window, and older messages, which
// were not being sent anyway, are left out of it.
type Compaction struct {
	// AfterMessages triggers compaction when more messages than this follow
	// the latest summary. 0 means 40 unless AfterTokens is set.
	AfterMessages int
	// AfterTokens, when set, also triggers compaction when the messages
	// after the latest summary are estimated (EstimateTokens) at more than
	// this many tokens.
	AfterTokens int
	// Prompt is the instruction for the summary (default
	// DefaultSummaryPrompt).
	Prompt string
	// Model is the model asked for the summary (default: the agent's).
	Model string
	// MaxOutputTokens caps the summary's length (0: the provider's default).
	MaxOutputTokens int
}

// DefaultSummaryPrompt is the instruction Compaction sends by default.
const DefaultSummaryPrompt = "You are summarising a conversation between a user and an assistant so that it can continue " +
	"without the full transcript. Write a concise summary that keeps every fact, decision, open question, " +
	"user preference, name, number and tool result that later turns may need, and what the user asked last. " +
	"Write only the summary."

// summaryTranscript starts the user message holding the transcript in a
// summary request.
const summaryTranscript = "Here is the conversation to summarise, as a transcript:\n\n"

// summaryRequest is the user message closing a summary request.
const summaryRequest = "Summarise the conversation above now, as instructed."

func (c *Compaction) afterMessages() int {
	if c.AfterMessages > 0 {
		return c.AfterMessages
	}
	if c.AfterTokens > 0 {
		return 1 << 30
	}
	return 40
}

// due reports whether msgs (the messages after the latest summary) call for
// compaction.
func (c *Compaction) due(msgs []message.Message) bool {
	if len(msgs) > c.afterMessages() {
		return true
	}
	if c.AfterTokens > 0 {
		total := 0
		for _, m := range msgs {
			total += EstimateTokens(m)
			if total > c.AfterTokens {
				return true
			}
		}
	}
	return false
}

// lastSummary returns the index of the latest summary message, or -1.
func lastSummary(msgs []message.Message) int {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == message.RoleSummary {
			return i
		}
	}
	return -1
}
