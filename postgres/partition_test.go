package postgres

import (
	"testing"

	"github.com/convo-dev/convo/message"
)

// TestRetryWhenTheIDConstraintHasAnotherName retries an append after its
// messages were stored, with the unique constraint on (session_id, id)
// renamed to what a hash partition of the messages table reports
// (PARTITION BY HASH (session_id), as the package documentation suggests;
// Citus shards report their own names too). The retry must succeed and
// store nothing twice: the store may not rely on the constraint's name.
func TestRetryWhenTheIDConstraintHasAnotherName(t *testing.T) {
	s := newStore(t, nil)
	ctx := t.Context()
	if _, err := s.pool.Exec(ctx, `ALTER TABLE `+s.q.messages+` RENAME CONSTRAINT messages_msg_id TO messages_p0_session_id_id_key`); err != nil {
		t.Fatal(err)
	}
	sess, err := s.Create(ctx, "retried")
	if err != nil {
		t.Fatal(err)
	}
	turn := []message.Message{message.NewUserMessage("question"), message.NewAssistantMessage("answer")}
	for i := range 2 {
		if err := sess.AddMessages(ctx, turn); err != nil {
			t.Fatalf("append %d: %v", i+1, err)
		}
	}
	// A retry mixed with a new message stores only the new one.
	more := append(turn[:2:2], message.NewUserMessage("follow-up"))
	if err := sess.AddMessages(ctx, more); err != nil {
		t.Fatalf("append with one new message: %v", err)
	}
	got, err := sess.GetMessages(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != turn[0].ID || got[1].ID != turn[1].ID || got[2].ID != more[2].ID {
		t.Fatalf("stored %d messages, want the 3 distinct ones in order: %+v", len(got), got)
	}
}
