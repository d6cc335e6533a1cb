// Package sqlident validates and quotes the SQL identifiers that convo's
// stores build from user options (table prefixes, schema names). Such
// values are spliced into SQL text, so they are checked before any SQL runs.
package sqlident

import (
	"errors"
	"fmt"
)

// MaxPrefixLength is the longest prefix accepted. PostgreSQL truncates
// identifiers at 63 bytes; the longest name convo derives from a prefix adds
// under 20.
const MaxPrefixLength = 40

// ErrInvalid is matched by every error ValidatePrefix and ValidateName return.
var ErrInvalid = errors.New("invalid SQL identifier")

// ValidatePrefix accepts "" or a plain identifier prefix: ASCII letters,
// digits and underscores, not starting with a digit, at most
// MaxPrefixLength bytes.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return validate("table prefix", prefix)
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
