package sessiontest

import (
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func testAtomicity(t *testing.T, s *suite) {
	invalid := []struct {
		name string
		msg  message.Message
	}{
		{"empty_role", message.Message{ID: message.NewID(), Parts: []message.Part{message.Text{Text: "no role"}}}},
		{"invalid_UTF-8_text", message.NewMessage(message.RoleUser, message.Text{Text: "bad \xff\xfe bytes"})},
		{"invalid_UTF-8_tool_result", message.NewToolResultMessage(message.ToolResult{CallID: "c1", Name: "t", Content: "\xc3\x28"})},
		{"nil_part", message.NewMessage(message.RoleUser, nil)},
		{"unknown_part_raw_not_JSON", message.NewMessage(message.RoleUser, message.Unknown{Type: "future", Raw: []byte("not json")})},
	}
	for _, bad := range invalid {
		for _, pos := range []string{"first", "middle", "last"} {
			t.Run(bad.name+"_"+pos+"_gives_ErrInvalidMessage_and_stores_nothing", func(t *testing.T) {
				_, sess := s.withSession(t)
				before := users("before", 2)
				add(t, sess, before...)
				call := users("call", 2)
				switch pos {
				case "first":
					call = append([]message.Message{bad.msg}, call...)
				case "middle":
					call = []message.Message{call[0], bad.msg, call[1]}
				default:
					call = append(call, bad.msg)
				}
				err := sess.AddMessages(t.Context(), call)
				isErr(t, "AddMessages with an invalid message", err, session.ErrInvalidMessage)
				sameMessages(t, "after the failed call", before, all(t, sess))
			})
		}
	}
	t.Run("failed_call_can_be_retried_after_fixing_the_message", func(t *testing.T) {
		_, sess := s.withSession(t)
		call := users("m", 3)
		call[1].Role = ""
		if err := sess.AddMessages(t.Context(), call); err == nil {
			t.Fatal("AddMessages with an empty role succeeded")
		}
		call[1].Role = message.RoleUser
		add(t, sess, call...)
		sameMessages(t, "after the retry", call, all(t, sess))
	})
	t.Run("invalid_message_in_new_session_leaves_it_empty", func(t *testing.T) {
		_, sess := s.withSession(t)
		call := users("m", 3)
		call[2].Parts = []message.Part{message.Text{Text: "\xff"}}
		if err := sess.AddMessages(t.Context(), call); err == nil {
			t.Fatal("AddMessages with invalid UTF-8 succeeded")
		}
		if got := all(t, sess); len(got) != 0 {
			t.Errorf("after the failed call the session holds %d messages: %q", len(got), texts(got))
		}
	})
}
