package sessiontest

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func (s *suite) quarantiner(t *testing.T) (session.Store, session.Quarantiner) {
	t.Helper()
	st := s.store(t)
	q, ok := st.(session.Quarantiner)
	if !ok {
		t.Skip("store does not implement session.Quarantiner")
	}
	return st, q
}

// corrupt damages message msgID of session id, or skips t when the suite
// was not given Options.Corrupt.
func (s *suite) corrupt(t *testing.T, st session.Store, id, msgID string) []byte {
	t.Helper()
	if s.opts.Corrupt == nil {
		t.Skip("no Options.Corrupt: the suite cannot damage a stored row of this store")
	}
	return s.opts.Corrupt(t, st, id, msgID)
}

// rich returns three messages; the middle one has every common part type,
// a model and usage.
func rich() []message.Message {
	return []message.Message{
		message.NewUserMessage("first"),
		{ID: message.NewID(), Role: message.RoleAssistant, Model: "m-1", Usage: &message.Usage{InputTokens: 3, OutputTokens: 4},
			Parts: []message.Part{
				message.Reasoning{Text: "hmm", Signature: "sig"},
				message.Text{Text: "middle ünïcode 🌍"},
				message.ToolCall{ID: "c1", Name: "f", Input: json.RawMessage(`{"a":1}`)},
			}},
		message.NewUserMessage("last"),
	}
}

func quarantined(t *testing.T, q session.Quarantiner, id string) []session.QuarantinedRow {
	t.Helper()
	rows, err := q.Quarantined(t.Context(), id)
	if err != nil {
		t.Fatalf("Quarantined(%q): %v", id, err)
	}
	if rows == nil {
		t.Errorf("Quarantined(%q) = nil, want a non-nil slice", id)
	}
	return rows
}

func testQuarantiner(t *testing.T, s *suite) {
	t.Run("moves_a_message_aside_keeping_order_and_its_encoding", func(t *testing.T) {
		st, q := s.quarantiner(t)
		sess := create(t, st, "s1")
		msgs := rich()
		add(t, sess, msgs...)
		if got := quarantined(t, q, "s1"); len(got) != 0 {
			t.Fatalf("Quarantined of a fresh session = %+v, want none", got)
		}
		if err := q.Quarantine(t.Context(), "s1", msgs[1].ID, "test reason"); err != nil {
			t.Fatalf("Quarantine: %v", err)
		}
		sameMessages(t, "messages after Quarantine", []message.Message{msgs[0], msgs[2]}, all(t, sess))
		rows := quarantined(t, q, "s1")
		if len(rows) != 1 {
			t.Fatalf("Quarantined = %d rows, want 1", len(rows))
		}
		r := rows[0]
		if r.SessionID != "s1" || r.MessageID != msgs[1].ID || r.Role != string(message.RoleAssistant) || r.Model != "m-1" ||
			r.CreatedAt != msgs[1].CreatedAt || r.Reason != "test reason" || r.QuarantinedAt <= 0 || r.Seq <= 0 {
			t.Errorf("quarantined row = %+v", r)
		}
		parts, err := message.UnmarshalParts(r.Parts)
		if err != nil {
			t.Fatalf("quarantined parts do not decode: %v (%q)", err, r.Parts)
		}
		if diff := cmp.Diff(msgs[1].Parts, parts); diff != "" {
			t.Errorf("quarantined parts (-want +got):\n%s", diff)
		}
		usage, err := message.UnmarshalUsage(r.Usage)
		if err != nil || usage == nil || *usage != *msgs[1].Usage {
			t.Errorf("quarantined usage = %v, %v; want %+v", usage, err, msgs[1].Usage)
		}
	})
	t.Run("moves_the_version_on", func(t *testing.T) {
		st, q := s.quarantiner(t)
		sess := create(t, st, "s1")
		v, ok := sess.(session.Versioned)
		if !ok {
			t.Skip("session does not implement session.Versioned")
		}
		msgs := rich()
		add(t, sess, msgs...)
		_, before, err := v.Snapshot(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Quarantine(t.Context(), "s1", msgs[0].ID, "r"); err != nil {
			t.Fatal(err)
		}
		_, after, err := v.Snapshot(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if after <= before {
			t.Errorf("version %d after Quarantine, was %d: want it moved on", after, before)
		}
		_, err = v.AddMessagesAt(t.Context(), before, users("late", 1))
		isErr(t, "AddMessagesAt(version read before Quarantine)", err, session.ErrConflict)
	})
	t.Run("missing_message_or_session_gives_ErrNotFound_and_changes_nothing", func(t *testing.T) {
		st, q := s.quarantiner(t)
		sess := create(t, st, "s1")
		msgs := users("m", 2)
		add(t, sess, msgs...)
		isErr(t, "Quarantine(missing message)", q.Quarantine(t.Context(), "s1", "no-such-id", "r"), session.ErrNotFound)
		isErr(t, "Quarantine(missing session)", q.Quarantine(t.Context(), "nope", msgs[0].ID, "r"), session.ErrNotFound)
		_, err := q.Quarantined(t.Context(), "nope")
		isErr(t, "Quarantined(missing session)", err, session.ErrNotFound)
		sameMessages(t, "messages", msgs, all(t, sess))
		if got := quarantined(t, q, "s1"); len(got) != 0 {
			t.Errorf("Quarantined = %+v, want none", got)
		}
	})
	t.Run("the_id_is_free_again_and_Delete_removes_the_rows", func(t *testing.T) {
		st, q := s.quarantiner(t)
		sess := create(t, st, "s1")
		msgs := users("m", 2)
		add(t, sess, msgs...)
		if err := q.Quarantine(t.Context(), "s1", msgs[0].ID, "r"); err != nil {
			t.Fatal(err)
		}
		add(t, sess, msgs[0]) // the session no longer holds the id: stored again, at the end
		sameTexts(t, "messages", []string{"m-1", "m-0"}, all(t, sess))
		if err := st.Delete(t.Context(), "s1"); err != nil {
			t.Fatal(err)
		}
		create(t, st, "s1")
		if got := quarantined(t, q, "s1"); len(got) != 0 {
			t.Errorf("Quarantined of a re-created session = %+v, want none (Delete removes them)", got)
		}
	})
	t.Run("corrupt_row_moved_aside_with_its_bytes_and_the_session_reads_again", func(t *testing.T) {
		st, q := s.quarantiner(t)
		sess := create(t, st, "s1")
		msgs := rich()
		add(t, sess, msgs...)
		raw := s.corrupt(t, st, "s1", msgs[1].ID)
		_, err := sess.GetMessages(t.Context(), nil)
		var ce *session.CorruptError
		if !errors.As(err, &ce) || ce.MessageID != msgs[1].ID || ce.SessionID != "s1" {
			t.Fatalf("GetMessages of the damaged session = %v, want a *session.CorruptError naming s1 and %q", err, msgs[1].ID)
		}
		if err := q.Quarantine(t.Context(), ce.SessionID, ce.MessageID, ce.Error()); err != nil {
			t.Fatalf("Quarantine of the corrupt row: %v", err)
		}
		sameMessages(t, "messages after Quarantine", []message.Message{msgs[0], msgs[2]}, all(t, sess))
		rows := quarantined(t, q, "s1")
		if len(rows) != 1 || !bytes.Equal(rows[0].Parts, raw) || rows[0].Seq != ce.Seq {
			t.Errorf("quarantined = %+v, want the row at seq %d with bytes %q", rows, ce.Seq, raw)
		}
	})
}

// testCorruptRows checks what every store given Options.Corrupt does with a
// row it cannot decode.
func testCorruptRows(t *testing.T, s *suite) {
	t.Run("GetMessages_names_the_session_and_row", func(t *testing.T) {
		st, sess := s.withSession(t)
		msgs := users("m", 3)
		add(t, sess, msgs...)
		s.corrupt(t, st, "s1", msgs[1].ID)
		_, err := sess.GetMessages(t.Context(), nil)
		isErr(t, "GetMessages", err, session.ErrCorrupt)
		var ce *session.CorruptError
		if !errors.As(err, &ce) || ce.SessionID != "s1" || ce.MessageID != msgs[1].ID {
			t.Errorf("GetMessages error = %v, want a *session.CorruptError naming s1 and %q", err, msgs[1].ID)
		}
	})
	t.Run("GetMessages_with_a_limit_returns_the_newest_past_an_older_corrupt_row", func(t *testing.T) {
		st, sess := s.withSession(t)
		msgs := users("m", 5)
		add(t, sess, msgs...)
		s.corrupt(t, st, "s1", msgs[1].ID)
		sameMessages(t, "GetMessages(3)", msgs[2:], get(t, sess, session.Limit(3)))
		sameMessages(t, "GetMessages(1)", msgs[4:], get(t, sess, session.Limit(1)))
		_, err := sess.GetMessages(t.Context(), session.Limit(4))
		isErr(t, "GetMessages(4), which reaches the corrupt row", err, session.ErrCorrupt)
	})
	t.Run("other_sessions_stay_readable", func(t *testing.T) {
		st, sess := s.withSession(t)
		other := create(t, st, "s2")
		msgs := users("m", 2)
		add(t, sess, msgs...)
		add(t, other, users("o", 2)...)
		s.corrupt(t, st, "s1", msgs[0].ID)
		sameTexts(t, "the other session", []string{"o-0", "o-1"}, all(t, other))
	})
}
