package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/convo-dev/convo/session"
)

// deleteJSON is a deletion report as --json writes it.
type deleteJSON struct {
	DryRun   bool     `json:"dry_run,omitempty"`
	Sessions []string `json:"sessions"`
	Messages int64    `json:"messages"`
	Missing  []string `json:"missing,omitempty"`
}

func (a *app) rmCommand() *cobra.Command {
	var owner string
	cmd := &cobra.Command{
		Use:   "rm ID... | rm --owner OWNER",
		Short: "Delete sessions, or everything an owner has (writes)",
		Long: `rm deletes the given sessions with their messages and search index entries.
An id that does not exist is reported, the others are still deleted, and the
exit status is non-zero.

rm --owner OWNER deletes every session of OWNER, with their messages and
search index entries, in one transaction (what a data-deletion request
needs), and reports what it deleted.`,
		Example: `  convo rm --db chat.db s1 s2
  convo rm --db chat.db --owner user-123 --json`,
		RunE: func(cmd *cobra.Command, ids []string) error {
			ctx := cmd.Context()
			if cmd.Flags().Changed("owner") && owner == "" {
				return errors.New("rm: --owner must not be empty")
			}
			if owner != "" && len(ids) > 0 {
				return errors.New("rm: give session ids or --owner, not both")
			}
			if owner == "" && len(ids) == 0 {
				return errors.New("rm: give session ids or --owner")
			}
			for _, id := range ids {
				if err := session.ValidateID(id); err != nil {
					return fmt.Errorf("rm: %w", err)
				}
			}
			b, err := a.open(ctx, true)
			if err != nil {
				return err
			}
			defer b.close()
			if owner != "" {
				e, ok := b.store.(session.OwnerEraser)
				if !ok {
					return fmt.Errorf("rm --owner: %T: %w", b.store, session.ErrNotSupported)
				}
				rep, err := e.DeleteOwner(ctx, owner)
				if err != nil {
					return fmt.Errorf("rm --owner %q: %w", owner, err)
				}
				return a.reportDelete(fmt.Sprintf("owner %q: ", owner), rep, false, nil)
			}
			var rep session.DeleteReport
			var missing []string
			d, describes := b.store.(session.Describer)
			for _, id := range ids {
				var n int64
				if describes {
					in, err := d.Info(ctx, id)
					if errors.Is(err, session.ErrNotFound) {
						missing = append(missing, id)
						continue
					} else if err != nil {
						return fmt.Errorf("rm %q: %w", id, err)
					}
					n = in.MessageCount
				} else if ok, err := b.store.Exists(ctx, id); err != nil {
					return fmt.Errorf("rm %q: %w", id, err)
				} else if !ok {
					missing = append(missing, id)
					continue
				}
				if err := b.store.Delete(ctx, id); err != nil {
					return fmt.Errorf("rm %q: %w", id, err)
				}
				rep.SessionIDs = append(rep.SessionIDs, id)
				rep.Messages += n
			}
			sort.Strings(rep.SessionIDs)
			if err := a.reportDelete("", rep, false, missing); err != nil {
				return err
			}
			if len(missing) > 0 {
				return fmt.Errorf("rm: no session %s", quoteAll(missing))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&owner, "owner", "", "delete every session of this owner, in one transaction")
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) pruneCommand() *cobra.Command {
	var (
		olderThan string
		owner     string
		dryRun    bool
	)
	cmd := &cobra.Command{
		Use:   "prune --older-than DURATION",
		Short: "Delete sessions idle for longer than a duration (writes, unless --dry-run)",
		Long: `prune deletes, in one transaction, every session (optionally of one owner)
whose last update is older than DURATION (90m, 36h, 30d, 2w), and reports
what it deleted. With --dry-run it reports what it would delete and deletes
nothing.`,
		Example: `  convo prune --db chat.db --older-than 30d --dry-run
  convo prune --db chat.db --older-than 90d --owner trial-users`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if olderThan == "" {
				return errors.New("prune: --older-than is required (for example --older-than 30d)")
			}
			d, err := parseDuration(olderThan)
			if err != nil {
				return fmt.Errorf("prune: --older-than: %w", err)
			}
			b, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer b.close()
			p, ok := b.store.(session.Pruner)
			if !ok {
				return fmt.Errorf("prune: %T: %w", b.store, session.ErrNotSupported)
			}
			bar := a.newProgress(-1, "prune")
			rep, err := p.Prune(cmd.Context(), session.PruneQuery{UpdatedBefore: a.now().Add(-d).UnixNano(), Owner: owner, DryRun: dryRun})
			bar.done()
			if err != nil {
				return fmt.Errorf("prune: %w", err)
			}
			return a.reportDelete("", rep, dryRun, nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&olderThan, "older-than", "", "delete sessions not updated for this long (90m, 36h, 30d, 2w)")
	f.StringVar(&owner, "owner", "", "prune only this owner's sessions")
	f.BoolVar(&dryRun, "dry-run", false, "report what would be deleted, delete nothing")
	a.addJSONFlag(cmd)
	return cmd
}

// reportDelete writes what a deletion removed.
func (a *app) reportDelete(what string, rep session.DeleteReport, dryRun bool, missing []string) error {
	if a.asJSON {
		ids := rep.SessionIDs
		if ids == nil {
			ids = []string{}
		}
		return writeJSON(a.stdout, deleteJSON{DryRun: dryRun, Sessions: ids, Messages: rep.Messages, Missing: missing})
	}
	verb := "deleted"
	if dryRun {
		verb = "would delete"
	}
	fmt.Fprintf(a.stdout, "%s%s %s, %s\n", what, verb, plural(len(rep.SessionIDs), "session", "sessions"), plural(rep.Messages, "message", "messages"))
	if len(rep.SessionIDs) > 0 {
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		for _, id := range rep.SessionIDs {
			fmt.Fprintf(tw, "  %s\n", id)
		}
		return tw.Flush()
	}
	return nil
}

func quoteAll(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = fmt.Sprintf("%q", id)
	}
	return strings.Join(q, ", ")
}
