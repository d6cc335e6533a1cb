package session_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// BenchmarkMemoryFork measures a MemoryStore fork, which shares the
// parent's message values instead of copying them, of a session of 1,000
// and of 10,000 messages of about 1 KB at its last message, against a read
// of the whole session (GetMessages, which copies every message) in the
// same loop. Reported: µs per fork, per read, and fork/read. Reproduce with
//
//	go test -run '^$' -bench MemoryFork -benchtime 200x -count 3 ./session
func BenchmarkMemoryFork(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("messages=%d", n), func(b *testing.B) {
			ctx := context.Background()
			st := session.NewMemoryStore()
			p, err := st.Create(ctx, "parent")
			if err != nil {
				b.Fatal(err)
			}
			msgs := make([]message.Message, n)
			for i := range msgs {
				msgs[i] = message.NewUserMessage(fmt.Sprintf("message %d: %s", i, strings.Repeat("lorem ipsum dolor sit amet ", 37)))
			}
			if err := p.AddMessages(ctx, msgs); err != nil {
				b.Fatal(err)
			}
			last := msgs[n-1].ID
			var forkT, readT time.Duration
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				if _, err := st.Fork(ctx, "parent", last, "fork", session.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				got, err := p.GetMessages(ctx, nil)
				if err != nil || len(got) != n {
					b.Fatal(len(got), err)
				}
				t2 := time.Now()
				forkT += t1.Sub(t0)
				readT += t2.Sub(t1)
				b.StopTimer()
				if err := st.Delete(ctx, "fork"); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(forkT.Microseconds())/float64(b.N), "fork-µs/op")
			b.ReportMetric(float64(readT.Microseconds())/float64(b.N), "read-µs/op")
			b.ReportMetric(float64(forkT)/float64(readT), "fork/read")
		})
	}
}
