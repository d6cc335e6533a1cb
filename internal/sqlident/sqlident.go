// Package sqlident validates and quotes the SQL identifiers that convo's
// stores build from user options (table prefixes, schema names). Such
// values are spliced into SQL text, so they are checked before any SQL runs.
package sqlident

import (
	"errors"
	"fmt"
	"strings"
)

// MaxPrefixLength is the longest prefix accepted. PostgreSQL truncates
// identifiers at 63 bytes; the longest name convo derives from a prefix adds
// under 20.
const MaxPrefixLength = 40

// ErrInvalid is matched by every error ValidatePrefix and ValidateName return.
var ErrInvalid = errors.New("invalid SQL identifier")

// ValidatePrefix accepts "" or a plain identifier prefix: lowercase ASCII
// letters, digits and underscores, not starting with a digit, at most
// MaxPrefixLength bytes.
//
// Uppercase letters are refused on every backend: SQLite compares table
// names without regard to case (https://sqlite.org/lang_keywords.html:
// identifiers are case-insensitive), so "Chat_" and "chat_" would name the
// same tables there and different ones on PostgreSQL, where convo quotes
// its names. Refusing keeps one meaning everywhere; a database made with an
// uppercase prefix on SQLite opens with the lowercase one.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := validate("table prefix", prefix); err != nil {
		return err
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; 'A' <= c && c <= 'Z' {
			return fmt.Errorf("%w: table prefix %q has uppercase letters: use %q (SQLite table names ignore case, so both would name the same tables)",
				ErrInvalid, prefix, strings.ToLower(prefix))
		}
	}
	return nil
}

// ValidateName accepts a plain, non-empty identifier, such as a schema name,
// under the same rules as ValidatePrefix.
func ValidateName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	}
	return validate(what, name)
}

func validate(what, s string) error {
	if len(s) > MaxPrefixLength {
		return fmt.Errorf("%w: %s %q is longer than %d bytes", ErrInvalid, what, s, MaxPrefixLength)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return fmt.Errorf("%w: %s %q: only ASCII letters, digits and _ are allowed, not starting with a digit", ErrInvalid, what, s)
		}
	}
	return nil
}

// Quote returns name as a double-quoted SQL identifier. name must have passed
// validation (it then holds no quote to escape); Quote escapes embedded
// quotes anyway, so it is never the only line of defence.
func Quote(name string) string {
	b := make([]byte, 0, len(name)+2)
	b = append(b, '"')
	for i := 0; i < len(name); i++ {
		if name[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, name[i])
	}
	return string(append(b, '"'))
}
