package sessiontest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func testSessionIDs(t *testing.T, s *suite) {
	invalid := []struct{ name, id string }{
		{"empty", ""},
		{"256_bytes", strings.Repeat("a", 256)},
		{"256_bytes_multibyte", strings.Repeat("用", 85) + "a"},
		{"invalid_UTF-8", "user-\xff\xfe"},
		{"NUL_byte", "a\x00b"},
		{"newline", "a\nb"},
		{"tab", "a\tb"},
		{"DEL", "a\x7fb"},
	}
	for _, c := range invalid {
		t.Run(c.name+"_gives_ErrInvalidID", func(t *testing.T) {
			st := s.store(t)
			ctx := t.Context()
			_, err := st.Exists(ctx, c.id)
			isErr(t, fmt.Sprintf("Exists(%q)", c.id), err, session.ErrInvalidID)
			sess, err := st.Create(ctx, c.id)
			isErr(t, fmt.Sprintf("Create(%q)", c.id), err, session.ErrInvalidID)
			if err == nil && sess != nil {
				// Show what the store did with it.
				_ = sess.AddMessages(ctx, []message.Message{message.NewUserMessage("leak")})
			}
			_, err = st.Load(ctx, c.id)
			isErr(t, fmt.Sprintf("Load(%q)", c.id), err, session.ErrInvalidID)
			err = st.Delete(ctx, c.id)
			isErr(t, fmt.Sprintf("Delete(%q)", c.id), err, session.ErrInvalidID)
			_, err = session.LoadOrCreate(ctx, st, c.id)
			isErr(t, fmt.Sprintf("session.LoadOrCreate(%q)", c.id), err, session.ErrInvalidID)
		})
	}
	valid := []struct{ name, id string }{
		{"255_bytes", strings.Repeat("a", 255)},
		{"255_bytes_multibyte", strings.Repeat("用", 85)},
		{"CJK", "用户-123"},
		{"emoji", "🦜🔥-chat-👩‍👩‍👧"},
		{"RTL_and_combining_marks", "שלום-مرحبا-e\u0301"},
		{"punctuation_and_quotes", `user:42/chat#1?x=y&z=%20 'q' "dq" \ ; -- */`},
		{"single_byte", "x"},
	}
	for _, c := range valid {
		t.Run(c.name+"_works", func(t *testing.T) {
			st := s.store(t)
			sess := create(t, st, c.id)
			if sess.ID() != c.id {
				t.Errorf("ID() = %q, want %q", sess.ID(), c.id)
			}
			if !exists(t, st, c.id) {
				t.Fatalf("Exists(%q) = false after Create", c.id)
			}
			msgs := users("m", 2)
			add(t, sess, msgs...)
			loaded := load(t, st, c.id)
			if loaded.ID() != c.id {
				t.Errorf("loaded ID() = %q, want %q", loaded.ID(), c.id)
			}
			sameMessages(t, "loaded session", msgs, all(t, loaded))
			if err := st.Delete(t.Context(), c.id); err != nil {
				t.Fatalf("Delete(%q): %v", c.id, err)
			}
			if exists(t, st, c.id) {
				t.Errorf("Exists(%q) = true after Delete", c.id)
			}
		})
	}
}

func testMessageIDs(t *testing.T, s *suite) {
	t.Run("empty_ID_is_assigned_and_written_to_the_callers_slice", func(t *testing.T) {
		_, sess := s.withSession(t)
		msgs := []message.Message{
			{Role: message.RoleUser, Parts: []message.Part{message.Text{Text: "a"}}},
			{Role: message.RoleUser, Parts: []message.Part{message.Text{Text: "b"}}},
		}
		add(t, sess, msgs...)
		for i, m := range msgs {
			if m.ID == "" {
				t.Errorf("message %d: ID still empty in the caller's slice after AddMessages", i)
			}
		}
		sameMessages(t, "stored messages vs the caller's slice", msgs, all(t, sess))
	})
	t.Run("IDs_every_store_can_keep_and_no_others", func(t *testing.T) {
		// One bound in every store (message.MaxIDLength; NUL refused in id,
		// role and model), so that what one store keeps another can take:
		// convo migrate copies between them. Before, a 1 MB id was stored by
		// SQLite and refused by PostgreSQL's index.
		_, sess := s.withSession(t)
		longest := strings.Repeat("é", message.MaxIDLength/2) + "x" // 255 bytes
		ok := message.NewUserMessage("kept")
		ok.ID = longest
		add(t, sess, ok)
		for _, c := range []struct {
			name string
			edit func(*message.Message)
		}{
			{"an_id_over_MaxIDLength", func(m *message.Message) { m.ID = strings.Repeat("a", message.MaxIDLength+1) }},
			{"a_1MB_id", func(m *message.Message) { m.ID = strings.Repeat("a", 1<<20) }},
			{"a_NUL_in_the_id", func(m *message.Message) { m.ID = "a\x00b" }},
			{"a_NUL_in_the_role", func(m *message.Message) { m.Role = "user\x00" }},
			{"a_NUL_in_the_model", func(m *message.Message) { m.Model = "gpt\x00" }},
		} {
			m := message.NewUserMessage("refused")
			c.edit(&m)
			err := sess.AddMessages(t.Context(), []message.Message{m})
			isErr(t, "AddMessages with "+strings.ReplaceAll(c.name, "_", " "), err, session.ErrInvalidMessage)
		}
		got := all(t, sess)
		if len(got) != 1 || got[0].ID != longest {
			t.Errorf("stored %d messages after the refusals, want only the one with a %d-byte id", len(got), len(longest))
		}
	})
	t.Run("assigned_IDs_are_unique", func(t *testing.T) {
		_, sess := s.withSession(t)
		seen := map[string]bool{}
		for c := range 3 {
			msgs := make([]message.Message, 20)
			for i := range msgs {
				msgs[i] = message.Message{Role: message.RoleUser, Parts: []message.Part{message.Text{Text: fmt.Sprint(c, i)}}}
			}
			add(t, sess, msgs...)
		}
		got := all(t, sess)
		if len(got) != 60 {
			t.Fatalf("stored %d messages, want 60", len(got))
		}
		for _, m := range got {
			if m.ID == "" || seen[m.ID] {
				t.Errorf("assigned ID %q is empty or repeated", m.ID)
			}
			seen[m.ID] = true
		}
	})
	t.Run("assigned_IDs_sort_by_creation", func(t *testing.T) {
		_, sess := s.withSession(t)
		for c := range 5 {
			msgs := make([]message.Message, 4)
			for i := range msgs {
				msgs[i] = message.Message{Role: message.RoleUser, Parts: []message.Part{message.Text{Text: fmt.Sprint(c, i)}}}
			}
			add(t, sess, msgs...)
		}
		got := all(t, sess)
		for i := 1; i < len(got); i++ {
			if got[i].ID <= got[i-1].ID {
				t.Errorf("message %d has ID %q, not greater than the ID %q of the message before it", i, got[i].ID, got[i-1].ID)
			}
		}
	})
	t.Run("given_ID_is_kept", func(t *testing.T) {
		_, sess := s.withSession(t)
		msgs := users("m", 2)
		msgs[0].ID, msgs[1].ID = "custom-id-1", "自定义-✓"
		add(t, sess, msgs...)
		got := all(t, sess)
		if len(got) != 2 || got[0].ID != "custom-id-1" || got[1].ID != "自定义-✓" {
			t.Errorf("stored IDs %q, want [custom-id-1 自定义-✓]", ids(got))
		}
	})
}

func testCreatedAt(t *testing.T, s *suite) {
	t.Run("zero_is_set_to_now_in_the_callers_slice", func(t *testing.T) {
		_, sess := s.withSession(t)
		msgs := []message.Message{{Role: message.RoleUser, Parts: []message.Part{message.Text{Text: "a"}}}}
		before := time.Now().UnixNano()
		add(t, sess, msgs...)
		after := time.Now().UnixNano()
		if c := msgs[0].CreatedAt; c < before || c > after {
			t.Errorf("CreatedAt in the caller's slice = %d, want the time of the call, in [%d, %d]", c, before, after)
		}
		sameMessages(t, "stored messages vs the caller's slice", msgs, all(t, sess))
	})
	t.Run("set_value_is_kept_exactly", func(t *testing.T) {
		_, sess := s.withSession(t)
		msgs := users("m", 3)
		msgs[0].CreatedAt = 1
		msgs[1].CreatedAt = 1732460000123456789
		msgs[2].CreatedAt = 9_000_000_000_000_000_001
		add(t, sess, msgs...)
		got := all(t, sess)
		for i := range msgs {
			if i < len(got) && got[i].CreatedAt != msgs[i].CreatedAt {
				t.Errorf("message %d: CreatedAt = %d, want %d", i, got[i].CreatedAt, msgs[i].CreatedAt)
			}
		}
	})
}

func testRetry(t *testing.T, s *suite) {
	t.Run("same_call_twice_stores_once", func(t *testing.T) {
		_, sess := s.withSession(t)
		msgs := users("m", 3)
		add(t, sess, msgs...)
		add(t, sess, msgs...)
		sameMessages(t, "after the call and its retry", msgs, all(t, sess))
	})
	t.Run("retry_with_IDs_the_store_assigned_stores_once", func(t *testing.T) {
		_, sess := s.withSession(t)
		msgs := []message.Message{
			{Role: message.RoleUser, Parts: []message.Part{message.Text{Text: "a"}}},
			{Role: message.RoleAssistant, Parts: []message.Part{message.Text{Text: "b"}}},
		}
		add(t, sess, msgs...)
		add(t, sess, msgs...) // IDs are now set in msgs
		sameMessages(t, "after the call and its retry", msgs, all(t, sess))
	})
	t.Run("mixed_batch_stores_only_new_messages_in_order", func(t *testing.T) {
		_, sess := s.withSession(t)
		m := users("m", 4)
		add(t, sess, m[0], m[1])
		add(t, sess, m[0], m[2], m[1], m[3])
		sameMessages(t, "after a mixed batch", []message.Message{m[0], m[1], m[2], m[3]}, all(t, sess))
	})
	t.Run("duplicate_ID_within_a_call_first_wins", func(t *testing.T) {
		_, sess := s.withSession(t)
		first := message.NewUserMessage("first")
		second := message.NewUserMessage("second")
		second.ID = first.ID
		other := message.NewUserMessage("other")
		add(t, sess, first, other, second)
		sameMessages(t, "after a call repeating an ID", []message.Message{first, other}, all(t, sess))
	})
	t.Run("stored_ID_with_new_content_is_skipped", func(t *testing.T) {
		_, sess := s.withSession(t)
		m := message.NewUserMessage("original")
		add(t, sess, m)
		changed := m
		changed.Parts = []message.Part{message.Text{Text: "changed"}}
		add(t, sess, changed)
		sameMessages(t, "after re-adding an ID with new content", []message.Message{m}, all(t, sess))
	})
	t.Run("retry_after_later_appends_does_not_reorder", func(t *testing.T) {
		_, sess := s.withSession(t)
		m := users("m", 3)
		add(t, sess, m[0], m[1])
		add(t, sess, m[2])
		add(t, sess, m[0], m[1])
		sameMessages(t, "after a late retry", m, all(t, sess))
	})
}

func ids(msgs []message.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}
