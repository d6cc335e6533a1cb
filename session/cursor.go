package session

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadCursor is matched (with errors.Is) by the error a Lister returns for
// a ListQuery.Cursor that no List made, and a Watcher for a
// WatchQuery.After that is not a cursor of its feed.
var ErrBadCursor = errors.New("invalid cursor")

// EncodeCursor returns the cursor of a listing position: the UpdatedAt and
// ID of the last session of a page. Listings are ordered by (UpdatedAt, ID)
// descending, so the next page starts strictly after that pair. The text is
// opaque to callers; stores (this module's and third parties') share the
// format through EncodeCursor and DecodeCursor.
func EncodeCursor(updatedAt int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(updatedAt, 10) + ":" + id))
}

// DecodeCursor reverses EncodeCursor. Anything else gives an error matching
// ErrBadCursor.
func DecodeCursor(c string) (updatedAt int64, id string, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", fmt.Errorf("%w: not base64url", ErrBadCursor)
	}
	at, id, ok := strings.Cut(string(raw), ":")
	if !ok {
		return 0, "", fmt.Errorf("%w: no separator", ErrBadCursor)
	}
	n, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("%w: bad time", ErrBadCursor)
	}
	if err := ValidateID(id); err != nil {
		return 0, "", fmt.Errorf("%w: %w", ErrBadCursor, err)
	}
	return n, id, nil
}
