package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// doctorResult is what doctor found in, and did to, one session.
type doctorResult struct {
	ID       string   `json:"id"`
	Problems []string `json:"problems,omitempty"`
	// Status is ok, damaged, repaired or error.
	Status string `json:"status"`
	// Action says how the session was repaired: "appended N messages" or
	// "rewrote history (N messages)".
	Action string `json:"action,omitempty"`
	Error  string `json:"error,omitempty"`
	// gone is set when the session was not found (deleted since the
	// listing, on a live store).
	gone bool
}

// doctorReport is the whole report.
type doctorReport struct {
	Schema struct {
		Backend string `json:"backend"`
		Version int    `json:"version"`
		Latest  int    `json:"latest"`
		OK      bool   `json:"ok"`
	} `json:"schema"`
	Sessions []doctorResult `json:"sessions"`
	Checked  int            `json:"checked"`
	Damaged  int            `json:"damaged"`
	Repaired int            `json:"repaired"`
	Errors   int            `json:"errors"`
}

func (a *app) doctorCommand() *cobra.Command {
	var repair, all bool
	cmd := &cobra.Command{
		Use:   "doctor [ID...]",
		Short: "Check tool-call pairing, unreadable rows and the schema; --repair fixes what it finds (and writes)",
		Long: `doctor checks the store's schema version and, in every session (or the given
ones), that each assistant tool call has exactly one result right after it
and that no result lacks its call (see session.Check).

With --repair it fixes each damaged session: when appending synthesized
"interrupted" results is enough (the program stopped between a call and its
result) it appends them, only if the session has not changed since it was
read; otherwise it rewrites the history atomically with session.Repair's
list, which keeps every message and marks what it synthesized. A message
row that cannot be read (corrupt JSON) is reported; --repair moves it to the
store's quarantine table, bytes kept, so that the session reads again.

Without --repair doctor opens the database read-only and changes nothing;
--repair writes to it.

The report lists damaged and repaired sessions (all sessions with --all or
--json). The exit status is non-zero when damage remains. A session
deleted while doctor goes through the whole store is skipped; one named on
the command line that does not exist is an error.`,
		Example: `  convo doctor --db chat.db
  convo doctor --db chat.db --repair`,
		RunE: func(cmd *cobra.Command, ids []string) error {
			ctx := cmd.Context()
			for _, id := range ids {
				if err := session.ValidateID(id); err != nil {
					return fmt.Errorf("doctor: %w", err)
				}
			}
			open := a.openRead // looking never changes the database
			if repair {
				open = func(ctx context.Context) (*backend, error) { return a.open(ctx, true) }
			}
			b, err := open(ctx)
			if err != nil {
				return err
			}
			defer b.close()
			var rep doctorReport
			rep.Schema.Backend = b.kind
			rep.Schema.Latest = b.latestSchema
			if rep.Schema.Version, err = b.schemaVersion(ctx); err != nil {
				return fmt.Errorf("doctor: schema version: %w", err)
			}
			rep.Schema.OK = rep.Schema.Version == rep.Schema.Latest
			// The report keeps what it prints: every session with --all
			// or --json, else the damaged ones (it kept every result, and
			// the listing every session's info: 230 MB for 300,000
			// sessions).
			keepAll := all || a.asJSON
			listed := len(ids) == 0 // every session: the store is listed
			check := func(id string) error {
				res := doctorSession(ctx, b.store, id, repair)
				if err := ctx.Err(); err != nil {
					return err
				}
				if res.gone && listed {
					// Deleted since the listing (a live store): there is
					// nothing left to check. A session named on the
					// command line that does not exist is an error.
					return nil
				}
				rep.Checked++
				switch res.Status {
				case "damaged":
					rep.Damaged++
				case "repaired":
					rep.Damaged++
					rep.Repaired++
				case "error":
					rep.Errors++
				}
				if keepAll || res.Status != "ok" {
					rep.Sessions = append(rep.Sessions, res)
				}
				return nil
			}
			if listed {
				if ids, err = a.allSessionIDs(ctx, b.store); err != nil {
					return fmt.Errorf("doctor: %w", err)
				}
			}
			bar := a.newProgress(int64(len(ids)), "doctor")
			for _, id := range ids {
				if err := check(id); err != nil {
					bar.done()
					return err
				}
				bar.add(1)
			}
			bar.done()
			if err := a.printDoctor(rep, all); err != nil {
				return err
			}
			switch {
			case !rep.Schema.OK:
				return fmt.Errorf("doctor: schema version %d, want %d", rep.Schema.Version, rep.Schema.Latest)
			case rep.Errors > 0:
				return fmt.Errorf("doctor: %s could not be checked or repaired", plural(rep.Errors, "session", "sessions"))
			case rep.Damaged > rep.Repaired:
				return fmt.Errorf("doctor: %s damaged; run convo doctor --repair", plural(rep.Damaged-rep.Repaired, "session is", "sessions are"))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&repair, "repair", false, "repair the damaged sessions")
	cmd.Flags().BoolVar(&all, "all", false, "list every session checked, not only damaged ones")
	cmd.ValidArgsFunction = a.completeSessionIDs
	a.addJSONFlag(cmd)
	return cmd
}

// doctorSession checks, and with repair fixes, one session.
func doctorSession(ctx context.Context, store session.Store, id string, repair bool) doctorResult {
	res := doctorResult{ID: id, Status: "ok"}
	fail := func(err error) doctorResult {
		res.Status = "error"
		res.Error = err.Error()
		if res.gone = errors.Is(err, session.ErrNotFound); res.gone {
			res.Error = fmt.Sprintf("no session %q", id) // as show and rm say it
		}
		return res
	}
	sess, err := store.Load(ctx, id)
	if err != nil {
		return fail(err)
	}
	var (
		msgs    []message.Message
		version int64
	)
	v, versioned := sess.(session.Versioned)
	var quarantined []string
	for {
		if versioned {
			msgs, version, err = v.Snapshot(ctx, nil)
		} else {
			msgs, err = sess.GetMessages(ctx, nil)
		}
		var ce *session.CorruptError
		if !errors.As(err, &ce) {
			break
		}
		// A row that cannot be read: with --repair, move it aside (its
		// bytes are kept) and read again.
		q, ok := store.(session.Quarantiner)
		if !repair || !ok {
			res.Status = "damaged"
			res.Problems = append(res.Problems, fmt.Sprintf("message id %s (seq %d) cannot be read: %v", ce.MessageID, ce.Seq, ce.Err))
			if !ok {
				return fail(fmt.Errorf("%w; %T cannot quarantine it", err, store))
			}
			return res
		}
		if len(quarantined) >= 100 {
			return fail(fmt.Errorf("more than 100 unreadable rows: %w", err))
		}
		if err := q.Quarantine(ctx, id, ce.MessageID, "convo doctor --repair: "+ce.Error()); err != nil {
			return fail(fmt.Errorf("quarantine message %s: %w", ce.MessageID, err))
		}
		quarantined = append(quarantined, fmt.Sprintf("message id %s (seq %d) cannot be read: %v", ce.MessageID, ce.Seq, ce.Err))
	}
	if err != nil {
		return fail(err)
	}
	if len(quarantined) > 0 {
		res.Status = "repaired"
		res.Problems = quarantined
		res.Action = "moved " + plural(len(quarantined), "unreadable message", "unreadable messages") + " to quarantine"
	}
	problems := session.Check(msgs)
	if len(problems) == 0 {
		return res
	}
	res.Status = "damaged"
	for _, p := range problems {
		res.Problems = append(res.Problems, describeProblem(p))
	}
	if !repair {
		return res
	}
	if suffix, ok := session.RepairSuffix(msgs); ok {
		if versioned {
			_, err = v.AddMessagesAt(ctx, version, suffix)
		} else {
			err = sess.AddMessages(ctx, suffix)
		}
		if err != nil {
			return fail(fmt.Errorf("append repair: %w", err))
		}
		res.Status = "repaired"
		res.Action = joinAction(res.Action, "appended "+plural(len(suffix), "message", "messages"))
		return res
	}
	rw, ok := sess.(session.Rewriter)
	if !ok {
		return fail(fmt.Errorf("the damage is inside the history and %T cannot rewrite it: %w", sess, session.ErrNotSupported))
	}
	fixed, _ := session.Repair(msgs)
	if _, err := rw.ReplaceMessages(ctx, version, fixed); err != nil {
		if errors.Is(err, session.ErrConflict) {
			return fail(fmt.Errorf("the session changed while being repaired; run doctor again: %w", err))
		}
		return fail(fmt.Errorf("rewrite: %w", err))
	}
	res.Status = "repaired"
	res.Action = joinAction(res.Action, fmt.Sprintf("rewrote history (%s, was %d)", plural(len(fixed), "message", "messages"), len(msgs)))
	return res
}

func joinAction(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func (a *app) printDoctor(rep doctorReport, all bool) error {
	if a.asJSON {
		if rep.Sessions == nil {
			rep.Sessions = []doctorResult{}
		}
		return writeJSON(a.stdout, rep)
	}
	state := "ok"
	if !rep.Schema.OK {
		state = "NOT CURRENT"
	}
	fmt.Fprintf(a.stdout, "schema: %s version %d (latest %d): %s\n", rep.Schema.Backend, rep.Schema.Version, rep.Schema.Latest, state)
	for _, r := range rep.Sessions {
		if r.Status == "ok" && !all {
			continue
		}
		line := r.ID + ": " + r.Status
		if r.Action != "" {
			line += ", " + r.Action
		}
		if r.Error != "" {
			line += ": " + r.Error
		}
		fmt.Fprintln(a.stdout, line)
		for _, p := range r.Problems {
			fmt.Fprintln(a.stdout, "    "+p)
		}
	}
	fmt.Fprintf(a.stdout, "checked %s: %d damaged, %d repaired, %s\n", plural(rep.Checked, "session", "sessions"), rep.Damaged, rep.Repaired, plural(rep.Errors, "error", "errors"))
	return nil
}

// describeProblem is p.String() with the message numbered from 1, as show
// and the viewer number them ("#2").
func describeProblem(p session.Problem) string {
	_, what, ok := strings.Cut(p.String(), "): ")
	if !ok {
		return p.String()
	}
	return fmt.Sprintf("message #%d (id %s): %s", p.Index+1, p.MessageID, what)
}
