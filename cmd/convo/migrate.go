package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

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
}

// migrateMismatch is a session whose message count differs after copying.
type migrateMismatch struct {
	ID   string `json:"id"`
	From int64  `json:"from"`
	To   int64  `json:"to"`
}

func (a *app) migrateCommand() *cobra.Command {
	var to, toPrefix string
	cmd := &cobra.Command{
		Use:   "migrate --to DB",
		Short: "Copy every session to another store (SQLite to PostgreSQL and back)",
		Long: `migrate copies every session of --db, with its owner, title, metadata,
creation time and messages, to the store --to (same URL forms as --db; its
table prefix is --to-prefix, by default --prefix).

It is resumable: a session already complete in the target is skipped, and
a partly copied one gets only the messages it lacks (messages are matched
by id), so re-running after an interruption finishes the job. At the end it
verifies that every session has as many messages in the target as in the
source, and fails if not. Sessions written to the source during the copy
may be missed; stop writers first, or run migrate again.`,
		Example: `  convo migrate --db chat.db --to postgres://user@db.example/convo
  convo migrate --db postgres://user@db.example/convo --to sqlite:back.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if to == "" {
				return errors.New("migrate: --to is required")
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
			src, err := a.open(ctx, true)
			if err != nil {
				return err
			}
			defer src.close()
			dst, err := openBackend(ctx, to, toPrefix, false)
			if err != nil {
				return fmt.Errorf("migrate: --to: %w", err)
			}
			defer dst.close()
			rep, err := a.migrate(ctx, src, dst)
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			if a.asJSON {
				if err := writeJSON(a.stdout, rep); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "migrated %d sessions from %s to %s: %d created, %d already complete, %d messages copied\n",
					rep.Sessions, rep.From, rep.To, rep.Created, rep.Skipped, rep.MessagesAdded)
				for _, m := range rep.Mismatches {
					fmt.Fprintf(a.stdout, "  %s: %d messages in the source, %d in the target\n", m.ID, m.From, m.To)
				}
				if rep.Verified {
					fmt.Fprintln(a.stdout, "verified: message counts match for every session")
				}
			}
			if !rep.Verified {
				return fmt.Errorf("migrate: %d sessions differ after copying", len(rep.Mismatches))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the target store: sqlite:PATH, PATH, or postgres://...")
	cmd.Flags().StringVar(&toPrefix, "to-prefix", "", "table prefix in the target (default: --prefix)")
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) migrate(ctx context.Context, src, dst *backend) (migrateReport, error) {
	rep := migrateReport{From: src.kind + " " + src.where, To: dst.kind + " " + dst.where}
	infos, err := allSessions(ctx, src.store, session.ListQuery{})
	if err != nil {
		return rep, fmt.Errorf("list source: %w", err)
	}
	dd, dstDescribes := dst.store.(session.Describer)
	if !dstDescribes {
		return rep, fmt.Errorf("target %T keeps no session info: %w", dst.store, session.ErrNotSupported)
	}
	bar := a.newProgress(int64(len(infos)), "migrate")
	defer bar.done()
	for _, in := range infos {
		rep.Sessions++
		target, err := dd.Info(ctx, in.ID)
		switch {
		case errors.Is(err, session.ErrNotFound):
			_, err = dd.CreateWith(ctx, in.ID, session.CreateOptions{Owner: in.Owner, Title: in.Title,
				Metadata: in.Metadata, CreatedAt: in.CreatedAt})
			if err != nil {
				return rep, fmt.Errorf("create %q: %w", in.ID, err)
			}
			rep.Created++
		case err != nil:
			return rep, fmt.Errorf("target %q: %w", in.ID, err)
		case target.MessageCount == in.MessageCount:
			rep.Skipped++
			bar.add(1)
			continue
		}
		n, err := copyMessages(ctx, src.store, dst.store, in.ID)
		if err != nil {
			return rep, fmt.Errorf("copy %q: %w", in.ID, err)
		}
		rep.MessagesAdded += n
		bar.add(1)
	}
	// Verify: every source session has as many messages in the target.
	sd, ok := src.store.(session.Describer)
	if !ok {
		return rep, fmt.Errorf("source %T keeps no session info: %w", src.store, session.ErrNotSupported)
	}
	for _, in := range infos {
		s, err := sd.Info(ctx, in.ID)
		if err != nil {
			return rep, fmt.Errorf("verify %q: %w", in.ID, err)
		}
		d, err := dd.Info(ctx, in.ID)
		if err != nil {
			return rep, fmt.Errorf("verify %q: %w", in.ID, err)
		}
		if s.MessageCount != d.MessageCount {
			rep.Mismatches = append(rep.Mismatches, migrateMismatch{ID: in.ID, From: s.MessageCount, To: d.MessageCount})
		}
	}
	rep.Verified = len(rep.Mismatches) == 0
	return rep, nil
}

// copyMessages appends to the target session id the source messages it
// lacks, in one atomic append, and returns how many.
func copyMessages(ctx context.Context, src, dst session.Store, id string) (int, error) {
	ss, err := src.Load(ctx, id)
	if err != nil {
		return 0, err
	}
	msgs, err := ss.GetMessages(ctx, nil)
	if err != nil {
		return 0, err
	}
	ds, err := dst.Load(ctx, id)
	if err != nil {
		return 0, err
	}
	missing, err := lacking(ctx, ds, msgs)
	if err != nil {
		return 0, err
	}
	if len(missing) == 0 {
		return 0, nil
	}
	return len(missing), ds.AddMessages(ctx, missing)
}
