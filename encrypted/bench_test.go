package encrypted_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// benchTurn returns a 4-message turn of about 1 KB per message, as the
// store benchmarks use: user text, an assistant tool call, its result, the
// answer.
func benchTurn(n int) []message.Message {
	pad := strings.Repeat("x", 900)
	call := fmt.Sprintf("call_%d", n)
	return []message.Message{
		message.NewUserMessage(fmt.Sprintf("%d/0 %s", n, pad)),
		message.NewMessage(message.RoleAssistant, message.Text{Text: fmt.Sprintf("%d/1 %s", n, pad)},
			message.ToolCall{ID: call, Name: "lookup", Input: []byte(`{"q":"x"}`)}),
		message.NewMessage(message.RoleTool, message.ToolResult{CallID: call, Name: "lookup", Content: fmt.Sprintf("%d/2 %s", n, pad)}),
		message.NewAssistantMessage(fmt.Sprintf("%d/3 %s", n, pad)),
	}
}

// BenchmarkOverhead measures the wrapper against the bare store it wraps,
// in the same run and interleaved (bare and encrypted every iteration, the
// order alternating),
// and reports the ratio encrypted/bare: appending a 4-message turn, and
// reading the last 20 messages of a 100-message session.
func BenchmarkOverhead(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) (bare, enc session.Store)
	}{
		{"memory", func(b *testing.B) (session.Store, session.Store) {
			return session.NewMemoryStore(), newMemory(b)
		}},
		{"sqlite", func(b *testing.B) (session.Store, session.Store) {
			// Two databases, so that neither store's file grows with the
			// other's rows.
			return newSQLite(b).inner, newSQLite(b).st
		}},
	}
	for _, be := range backends {
		b.Run(be.name+"/append_turn", func(b *testing.B) {
			bare, enc := be.open(b)
			sb := createOwned(b, bare, "s", "alice")
			se := createOwned(b, enc, "s", "alice")
			add(b, se, benchTurn(-1)...) // make the data key outside the timing
			var tb, te time.Duration
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 { // alternate which goes first
					tb += timed(b, sb, benchTurn(i))
					te += timed(b, se, benchTurn(i))
				} else {
					te += timed(b, se, benchTurn(i))
					tb += timed(b, sb, benchTurn(i))
				}
			}
			report(b, tb, te, "turn")
		})
		b.Run(be.name+"/read_last20_of_100", func(b *testing.B) {
			bare, enc := be.open(b)
			sb := createOwned(b, bare, "s", "alice")
			se := createOwned(b, enc, "s", "alice")
			for i := range 25 {
				add(b, sb, benchTurn(i)...)
				add(b, se, benchTurn(i)...)
			}
			var tb, te time.Duration
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					tb += timedRead(b, sb)
					te += timedRead(b, se)
				} else {
					te += timedRead(b, se)
					tb += timedRead(b, sb)
				}
			}
			report(b, tb, te, "read")
		})
	}
}

func timed(b *testing.B, s session.Session, msgs []message.Message) time.Duration {
	start := time.Now()
	if err := s.AddMessages(b.Context(), msgs); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func timedRead(b *testing.B, s session.Session) time.Duration {
	start := time.Now()
	msgs, err := s.GetMessages(b.Context(), session.Limit(20))
	if err != nil || len(msgs) != 20 {
		b.Fatalf("GetMessages(20) = %d messages, %v", len(msgs), err)
	}
	return time.Since(start)
}

func report(b *testing.B, bare, enc time.Duration, unit string) {
	n := float64(b.N)
	b.ReportMetric(float64(bare.Nanoseconds())/n, "bare-ns/"+unit)
	b.ReportMetric(float64(enc.Nanoseconds())/n, "encrypted-ns/"+unit)
	b.ReportMetric(float64(enc)/float64(bare), "encrypted/bare")
}
