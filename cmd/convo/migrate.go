package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/convo-dev/convo/session"
)

// migrateReport is what migrate did.
type migrateReport struct {
	From          string            `json:"from"`
	To            string            `json:"to"`
	Sessions      int               `json:"sessions"`
	Created       int               `json:"created"`
	Skipped       int               `json:"skipped"`
	MessagesAdded int               `json:"messages_added"`
	Verified      bool              `json:"verified"`
	Mismatches    []migrateMismatch `json:"mismatches,omitempty"`
	// Unreadable lists the sessions not copied because a stored row
	// cannot be read; the others are copied all the same.
	Unreadable []corruptRow `json:"unreadable,omitempty"`
}

// corruptRow names a stored row that cannot be read.
type corruptRow struct {
	Session string `json:"session"`
	Seq     int64  `json:"seq"`
	Message string `json:"message_id,omitempty"`
	Error   string `json:"error"`
}

// asCorruptRow returns the row err names, if err is a *session.CorruptError.
func asCorruptRow(err error) (corruptRow, bool) {
	var ce *session.CorruptError
	if !errors.As(err, &ce) {
		return corruptRow{}, false
	}
	return corruptRow{Session: ce.SessionID, Seq: ce.Seq, Message: ce.MessageID, Error: ce.Err.Error()}, true
}

// unreadableNote is what the store-wide commands say of a session they
// left out because of an unreadable row.
func unreadableNote(r corruptRow) string {
	return fmt.Sprintf("session %q: row seq %d cannot be read (%s); left out (convo doctor --repair moves the row aside)", r.Session, r.Seq, r.Error)
}

// migrateMismatch is a session whose message count differs after copying.
type migrateMismatch struct {
	ID   string `json:"id"`
	From int64  `json:"from"`
	To   int64  `json:"to"`
}

func (a *app) migrateCommand() *cobra.Command {
	var to, toPrefix string
	jobs := defaultJobs
	cmd := &cobra.Command{
		Use:   "migrate --to DB",
		Short: "Copy every session to another store (SQLite to PostgreSQL and back; writes to --to, reads --db read-only)",
		Long: `migrate copies every session of --db, with its owner, title, metadata,
creation time and messages, to the store --to (same URL forms as --db; its
table prefix is --to-prefix, by default --prefix). Each session keeps its
last-update time too (SQLite and PostgreSQL targets record it), so ls
lists the sessions in the same order and prune sees them as old as they are.

It is resumable: a session already complete in the target is skipped, and
a partly copied one gets only the messages it lacks (messages are matched
by id), so re-running after an interruption finishes the job. At the end it
verifies that every session has as many messages in the target as in the
source, and fails if not. On a live source, every session that exists from
the start of the copy until its turn comes is copied, with the messages it
holds then (sessions written while the source is listed included); messages
added to a session after it was copied fail the verification, and sessions
created after the listing are not copied: stop writers first, or run migrate
again, which copies just those. A session deleted from the source during
the copy is left out, and not verified (the target keeps what was copied of
it). --jobs sessions are copied at once; the first error stops the copy.`,
		Example: `  convo migrate --db chat.db --to postgres://user@db.example/convo
  convo migrate --db postgres://user@db.example/convo --to sqlite:back.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if to == "" {
				return errors.New("migrate: --to is required")
			}
			if jobs < 1 {
				return fmt.Errorf("migrate: --jobs %d: must be at least 1", jobs)
			}
			if !cmd.Flags().Changed("to-prefix") {
				toPrefix = a.prefix
			}
			if _, _, err := parseDB(to); err != nil {
				return fmt.Errorf("migrate: --to: %w", err)
			}
			if to == a.db && toPrefix == a.prefix {
				return errors.New("migrate: --to is the same store as --db")
			}
			src, err := a.openRead(ctx)
			if err != nil {
				return err
			}
			defer src.close()
			dst, err := openBackend(ctx, to, toPrefix, false, false)
			if err != nil {
				return fmt.Errorf("migrate: --to: %w", err)
			}
			defer dst.close()
			rep, err := a.migrate(ctx, src, dst, jobs)
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			if a.asJSON {
				if err := writeJSON(a.stdout, rep); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "migrated %s from %s to %s: %d created, %d already complete, %s copied\n",
					plural(rep.Sessions, "session", "sessions"), rep.From, rep.To, rep.Created, rep.Skipped,
					plural(rep.MessagesAdded, "message", "messages"))
				for _, m := range rep.Mismatches {
					fmt.Fprintf(a.stdout, "  %s: %s in the source, %d in the target\n", m.ID, plural(m.From, "message", "messages"), m.To)
				}
				for _, r := range rep.Unreadable {
					fmt.Fprintln(a.stdout, "  "+unreadableNote(r))
				}
				if rep.Verified {
					fmt.Fprintln(a.stdout, "verified: message counts match for every session")
				}
			}
			if !rep.Verified {
				return fmt.Errorf("migrate: %s after copying", plural(len(rep.Mismatches), "session differs", "sessions differ"))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the target store: sqlite:PATH, PATH, or postgres://...")
	cmd.Flags().StringVar(&toPrefix, "to-prefix", "", "table prefix in the target (default: --prefix)")
	cmd.Flags().IntVar(&jobs, "jobs", defaultJobs, "sessions copied at once")
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) migrate(ctx context.Context, src, dst *backend, jobs int) (migrateReport, error) {
	rep := migrateReport{From: src.kind + " " + src.where, To: dst.kind + " " + dst.where}
	// Only the ids are listed first; each session's info is read as it is
	// copied (holding every session's info took about 700 MB for a million
	// sessions). A session deleted from the source since is left out.
	ids, err := a.allSessionIDs(ctx, src.store)
	if err != nil {
		return rep, fmt.Errorf("list source: %w", err)
	}
	sd, ok := src.store.(session.Describer)
	if !ok {
		return rep, fmt.Errorf("source %T keeps no session info: %w", src.store, session.ErrNotSupported)
	}
	dd, dstDescribes := dst.store.(session.Describer)
	if !dstDescribes {
		return rep, fmt.Errorf("target %T keeps no session info: %w", dst.store, session.ErrNotSupported)
	}
	// Sessions are copied jobs at a time; what each one did is kept by
	// its place in ids, so the report reads in listing order however the
	// copies interleave.
	outcomes := make([]migrateOutcome, len(ids))
	bar := a.newProgress(int64(len(ids)), "migrate")
	err = forEach(ctx, jobs, len(ids), func(ctx context.Context, i int) error {
		defer bar.add(1)
		o, err := migrateOne(ctx, src.store, sd, dst.store, dd, ids[i])
		outcomes[i] = o
		return err
	})
	bar.done()
	for _, o := range outcomes {
		if !o.copied {
			continue
		}
		rep.Sessions++
		switch {
		case o.created:
			rep.Created++
		case o.skipped:
			rep.Skipped++
		}
		rep.MessagesAdded += o.added
		if o.unreadable != nil {
			rep.Unreadable = append(rep.Unreadable, *o.unreadable)
		}
	}
	if err != nil {
		return rep, err
	}
	// Verify: every source session has as many messages in the target.
	mismatches := make([]*migrateMismatch, len(ids))
	err = forEach(ctx, jobs, len(ids), func(ctx context.Context, i int) error {
		if !outcomes[i].copied {
			return nil
		}
		m, err := verifyOne(ctx, sd, dd, ids[i])
		mismatches[i] = m
		return err
	})
	if err != nil {
		return rep, err
	}
	for _, m := range mismatches {
		if m != nil {
			rep.Mismatches = append(rep.Mismatches, *m)
		}
	}
	rep.Verified = len(rep.Mismatches) == 0
	return rep, nil
}

// migrateOutcome is what migrate did with one listed session: copied is
// false for one deleted from the source before or while it was copied
// (left out of the report and the verification); a copied one was created
// in the target, found complete there (skipped), or given added messages,
// unless a row of it could not be read (unreadable: not copied further; the
// verification then finds it short).
type migrateOutcome struct {
	copied, created, skipped bool
	added                    int
	unreadable               *corruptRow
}

// migrateOne copies the session id from src to dst, as migrate describes.
func migrateOne(ctx context.Context, src session.Store, sd session.Describer, dst session.Store, dd session.Describer, id string) (migrateOutcome, error) {
	var o migrateOutcome
	in, err := sd.Info(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		return o, nil // deleted since the listing
	}
	if errors.Is(err, session.ErrCorrupt) && in.ID != "" {
		// Info that cannot be read in full (its metadata) comes with
		// what could be read, as the listing gives it.
		err = nil
	}
	if err != nil {
		return o, fmt.Errorf("source %q: %w", id, err)
	}
	o.copied = true
	target, err := dd.Info(ctx, in.ID)
	switch {
	case errors.Is(err, session.ErrNotFound):
		_, err = dd.CreateWith(ctx, in.ID, session.CreateOptions{Owner: in.Owner, Title: in.Title,
			Metadata: in.Metadata, CreatedAt: in.CreatedAt, ParentID: in.ParentID, ForkMessageID: in.ForkMessageID})
		if err != nil {
			return o, fmt.Errorf("create %q: %w", in.ID, err)
		}
		o.created = true
	case err != nil:
		return o, fmt.Errorf("target %q: %w", in.ID, err)
	case target.MessageCount == in.MessageCount:
		// Complete, by the count that has always judged it. Its
		// last-update time may still be the time of the copy: a run
		// stopped between the append and keepUpdatedAt, or one by a
		// convo that did not keep it. Setting it again is correct for
		// the same reason as after a copy (the target holds the
		// source's messages), and cheap: one write per session, only
		// when the times differ, so a run with nothing to do writes
		// nothing.
		if target.UpdatedAt != in.UpdatedAt {
			if err := keepUpdatedAt(ctx, dst, in.ID, in.UpdatedAt); err != nil {
				return o, fmt.Errorf("target %q: %w", in.ID, err)
			}
		}
		o.skipped = true
		return o, nil
	}
	n, exact, err := copyMessages(ctx, src, dst, in.ID)
	if errors.Is(err, errSourceDeleted) {
		// Deleted from the source since its info was read: there is
		// nothing left to copy or verify.
		return migrateOutcome{}, nil
	}
	if row, ok := asCorruptRow(err); ok {
		// One bad row stops this session, not the whole copy.
		o.unreadable = &row
		return o, nil
	}
	if err != nil {
		return o, fmt.Errorf("copy %q: %w", in.ID, err)
	}
	o.added = n
	// The append stamped the target with the time of the copy; the
	// session's last activity is the source's, as long as the target
	// holds nothing but the source's messages. (in.UpdatedAt is from the
	// listing: a session written to during the copy gets the earlier
	// time, which the next run, finding it complete, fixes.)
	if exact {
		if err := keepUpdatedAt(ctx, dst, in.ID, in.UpdatedAt); err != nil {
			return o, fmt.Errorf("copy %q: %w", in.ID, err)
		}
	}
	return o, nil
}

// verifyOne compares the message counts of the session id in the source
// and the target, and returns the mismatch, if any. A session deleted from
// the source since it was copied has none.
func verifyOne(ctx context.Context, sd, dd session.Describer, id string) (*migrateMismatch, error) {
	s, err := sd.Info(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		return nil, nil
	}
	if errors.Is(err, session.ErrCorrupt) && s.ID != "" {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("verify %q: %w", id, err)
	}
	d, err := dd.Info(ctx, id)
	if errors.Is(err, session.ErrCorrupt) && d.ID != "" {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("verify %q: %w", id, err)
	}
	if s.MessageCount != d.MessageCount {
		return &migrateMismatch{ID: id, From: s.MessageCount, To: d.MessageCount}, nil
	}
	return nil, nil
}

// forEach calls fn for 0 <= i < n, at most jobs calls at a time, and
// returns the first error; the first error cancels the context of the
// calls still running and starts no more.
func forEach(ctx context.Context, jobs, n int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(jobs, 1))
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(gctx, i) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// defaultJobs is how many sessions migrate copies at once by default.
// Copying a session is mostly waiting (a PostgreSQL round trip, a commit's
// fsync), so copies overlap well; see docs/performance.md.
const defaultJobs = 4

// errSourceDeleted is copyMessages's error when the session is no longer
// in the source (deleted while migrate ran).
var errSourceDeleted = errors.New("deleted from the source meanwhile")

// copyMessages appends to the target session id the source messages it
// lacks, in one atomic append. It returns how many, and whether the target
// then holds exactly the source's messages (none of its own).
func copyMessages(ctx context.Context, src, dst session.Store, id string) (added int, exact bool, err error) {
	ss, err := src.Load(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		return 0, false, fmt.Errorf("%w: %w", errSourceDeleted, err)
	}
	if err != nil {
		return 0, false, err
	}
	msgs, err := ss.GetMessages(ctx, nil)
	if errors.Is(err, session.ErrNotFound) {
		return 0, false, fmt.Errorf("%w: %w", errSourceDeleted, err)
	}
	if err != nil {
		return 0, false, err
	}
	ds, err := dst.Load(ctx, id)
	if err != nil {
		return 0, false, err
	}
	missing, held, err := lacking(ctx, ds, msgs)
	if err != nil {
		return 0, false, err
	}
	exact = held+len(missing) == len(msgs)
	if len(missing) == 0 {
		return 0, exact, nil
	}
	if err := ds.AddMessages(ctx, missing); err != nil {
		return 0, false, err
	}
	return len(missing), exact, nil
}
