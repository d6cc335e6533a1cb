package sqlident

import (
	"errors"
	"strings"
	"testing"
)

func TestValidatePrefix(t *testing.T) {
	for _, ok := range []string{"", "chat_", "_x", "a1", "convo_v2_", strings.Repeat("a", MaxPrefixLength)} {
		if err := ValidatePrefix(ok); err != nil {
			t.Errorf("ValidatePrefix(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"1chat", "Chat_", "CHAT_", "A1", "chat-", "a b", `x"; DROP TABLE sessions; --`, "é", "a.b", "a\x00", strings.Repeat("a", MaxPrefixLength+1)} {
		if err := ValidatePrefix(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidatePrefix(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestValidateName(t *testing.T) {
	if err := ValidateName("schema", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty name: %v, want ErrInvalid", err)
	}
	if err := ValidateName("schema", "convo"); err != nil {
		t.Errorf("convo: %v", err)
	}
}

func TestQuote(t *testing.T) {
	if got := Quote("chat_sessions"); got != `"chat_sessions"` {
		t.Errorf("Quote = %s", got)
	}
	if got := Quote(`a"b`); got != `"a""b"` {
		t.Errorf("Quote = %s", got)
	}
}

func FuzzValidatePrefix(f *testing.F) {
	for _, s := range []string{"chat_", "1x", `"`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidatePrefix(s) != nil {
			return
		}
		// Anything accepted must be safe to splice unquoted.
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c == '_' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
				t.Fatalf("accepted %q with byte %q", s, c)
			}
		}
	})
}
