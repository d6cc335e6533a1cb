package providerrules

import (
	"errors"
	"fmt"
)

// ErrViolation is matched (errors.Is) by every rule violation.
var ErrViolation = errors.New("provider rule violated")

// Violation is one broken rule.
type Violation struct {
	// Rule is the rule's stable id, such as "anthropic/tools-defined".
	Rule string
	// Path locates the offence in the body, such as "messages[3].content[0]".
	Path string
	// Detail says what is wrong.
	Detail string
}

// Error describes the violation: rule id, path and detail.
func (v *Violation) Error() string {
	if v.Path == "" {
		return fmt.Sprintf("providerrules: %s: %s", v.Rule, v.Detail)
	}
	return fmt.Sprintf("providerrules: %s: %s: %s", v.Rule, v.Path, v.Detail)
}

// Unwrap returns ErrViolation.
func (v *Violation) Unwrap() error { return ErrViolation }

// Rules returns the rule ids of every Violation in err (a single Violation
// or several joined), in order, or nil when err holds none.
func Rules(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if v, ok := e.(*Violation); ok {
			out = append(out, v.Rule)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// collector gathers violations.
type collector struct{ vs []error }

func (c *collector) add(rule, path, format string, args ...any) {
	c.vs = append(c.vs, &Violation{Rule: rule, Path: path, Detail: fmt.Sprintf(format, args...)})
}

func (c *collector) err() error { return errors.Join(c.vs...) }
