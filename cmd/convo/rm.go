package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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
	var (
		owner string
		yes   bool
	)
	cmd := &cobra.Command{
		Use:   "rm ID... | rm --owner OWNER",
		Short: "Delete sessions, or everything an owner has (writes)",
		Long: `rm deletes the given sessions with their messages and search index entries.
An id that does not exist is reported, the others are still deleted, and the
exit status is non-zero.

rm --owner OWNER deletes every session of OWNER, with their messages and
search index entries (what a data-deletion request needs), and reports what
it deleted. Each session goes whole; the SQLite and PostgreSQL stores
delete in rounds of about a thousand sessions, each its own transaction, so
that the application's writers are never held up for long. If rm --owner
stops part way (an error, Ctrl-C), what it deleted stays deleted and running
it again finishes the erasure.

On a terminal rm lists what it will delete and asks before deleting; --yes
deletes without asking. When stdin is not a terminal (a script, a pipe)
rm refuses to delete without --yes.`,
		Example: `  convo rm --db chat.db s1 s2
  convo rm --db chat.db --owner user-123 --yes --json`,
		ValidArgsFunction: a.completeSessionIDs,
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
			if !yes && !isTerminal(a.stdin) {
				return a.refuseUnconfirmed("rm")
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
				if !yes {
					infos, err := allSessions(ctx, b.store, session.ListQuery{Owner: owner})
					if err != nil {
						return fmt.Errorf("rm --owner %q: %w", owner, err)
					}
					head := fmt.Sprintf("delete everything owner %q has: %s, %s", owner,
						plural(len(infos), "session", "sessions"), plural(messageCount(infos), "message", "messages"))
					if err := a.confirm("rm", head, infos); err != nil {
						return err
					}
				}
				// Its rounds report only at the end: the bar shows that
				// it works (an owner of 50,000 sessions takes a while).
				bar := a.newProgress(-1, "rm --owner")
				rep, err := e.DeleteOwner(ctx, owner)
				bar.done()
				if err != nil {
					return fmt.Errorf("rm --owner %q: %w", owner, deletedBefore(rep, err))
				}
				return a.reportDelete(fmt.Sprintf("owner %q: ", owner), rep, false, nil)
			}
			var (
				rep     session.DeleteReport
				missing []string
				found   []session.Info
			)
			d, describes := b.store.(session.Describer)
			for _, id := range ids {
				if describes {
					in, err := d.Info(ctx, id)
					if errors.Is(err, session.ErrNotFound) {
						missing = append(missing, id)
						continue
					} else if err != nil {
						return fmt.Errorf("rm %q: %w", id, err)
					}
					found = append(found, in)
				} else if ok, err := b.store.Exists(ctx, id); err != nil {
					return fmt.Errorf("rm %q: %w", id, err)
				} else if !ok {
					missing = append(missing, id)
				} else {
					found = append(found, session.Info{ID: id})
				}
			}
			if !yes && len(found) > 0 {
				head := fmt.Sprintf("delete %s, %s", plural(len(found), "session", "sessions"), plural(messageCount(found), "message", "messages"))
				if err := a.confirm("rm", head, found); err != nil {
					return err
				}
			}
			for _, in := range found {
				if err := b.store.Delete(ctx, in.ID); err != nil {
					return fmt.Errorf("rm %q: %w", in.ID, err)
				}
				rep.SessionIDs = append(rep.SessionIDs, in.ID)
				rep.Messages += in.MessageCount
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
	cmd.Flags().StringVar(&owner, "owner", "", "delete every session of this owner")
	_ = cmd.RegisterFlagCompletionFunc("owner", a.completeOwners)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking (required when stdin is not a terminal)")
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) pruneCommand() *cobra.Command {
	var (
		olderThan string
		owner     string
		dryRun    bool
		yes       bool
	)
	cmd := &cobra.Command{
		Use:   "prune --older-than DURATION",
		Short: "Delete sessions idle for longer than a duration (writes, unless --dry-run)",
		Long: `prune deletes every session (optionally of one owner) whose last update is
older than DURATION (90m, 36h, 30d, 2w), and reports what it deleted. With
--dry-run it reports what it would delete and deletes nothing.

The SQLite and PostgreSQL stores delete in rounds of about a thousand
sessions, each its own transaction, so that a large prune never holds up
the application's writers for long. If prune stops part way (an error,
Ctrl-C), what it deleted stays deleted and running it again finishes.

On a terminal prune lists what it will delete and asks before deleting;
--yes deletes without asking. When stdin is not a terminal (cron, a
script) prune refuses to delete without --yes.`,
		Example: `  convo prune --db chat.db --older-than 30d --dry-run
  convo prune --db chat.db --older-than 90d --owner trial-users --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if olderThan == "" {
				return errors.New("prune: --older-than is required (for example --older-than 30d)")
			}
			d, err := parseDuration(olderThan)
			if err != nil {
				return fmt.Errorf("prune: --older-than: %w", err)
			}
			if !dryRun && !yes && !isTerminal(a.stdin) {
				return a.refuseUnconfirmed("prune")
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
			q := session.PruneQuery{UpdatedBefore: a.now().Add(-d).UnixNano(), Owner: owner, DryRun: dryRun}
			if !dryRun && !yes {
				// Ask about what a dry run finds; the prune then deletes
				// what is idle at that same cutoff, and reports it.
				dq := q
				dq.DryRun = true
				would, err := p.Prune(cmd.Context(), dq)
				if err != nil {
					return fmt.Errorf("prune: %w", err)
				}
				if len(would.SessionIDs) == 0 {
					return a.reportDelete("", would, false, nil)
				}
				infos := make([]session.Info, len(would.SessionIDs))
				for i, id := range would.SessionIDs {
					infos[i] = session.Info{ID: id}
				}
				head := fmt.Sprintf("delete %s not updated for %s, %s", plural(len(infos), "session", "sessions"),
					olderThan, plural(would.Messages, "message", "messages"))
				if err := a.confirm("prune", head, infos); err != nil {
					return err
				}
			}
			bar := a.newProgress(-1, "prune")
			rep, err := p.Prune(cmd.Context(), q)
			bar.done()
			if err != nil {
				return fmt.Errorf("prune: %w", deletedBefore(rep, err))
			}
			return a.reportDelete("", rep, dryRun, nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&olderThan, "older-than", "", "delete sessions not updated for this long (90m, 36h, 30d, 2w)")
	f.StringVar(&owner, "owner", "", "prune only this owner's sessions")
	_ = cmd.RegisterFlagCompletionFunc("owner", a.completeOwners)
	f.BoolVar(&dryRun, "dry-run", false, "report what would be deleted, delete nothing")
	f.BoolVarP(&yes, "yes", "y", false, "delete without asking (required when stdin is not a terminal)")
	a.addJSONFlag(cmd)
	return cmd
}

// deletedBefore adds to err, a bulk deletion's error, what the rounds
// that committed before it deleted (rep, which the store returns with the
// error: session.OwnerEraser), so that the operator knows it is gone.
func deletedBefore(rep session.DeleteReport, err error) error {
	if len(rep.SessionIDs) == 0 {
		return err
	}
	return fmt.Errorf("deleted %s, %s, then: %w; what was deleted stays deleted, run it again to finish",
		plural(len(rep.SessionIDs), "session", "sessions"), plural(rep.Messages, "message", "messages"), err)
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
	ids := rep.SessionIDs
	if isTerminal(a.rawStdout) && len(ids) > maxListedOnTerminal {
		// A prune of 180,000 sessions printed 180,000 lines to the
		// terminal. A log or a pipe still gets every id.
		ids = ids[:maxListedOnTerminal]
	}
	if len(ids) > 0 {
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		for _, id := range ids {
			fmt.Fprintf(tw, "  %s\n", id)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if more := len(rep.SessionIDs) - len(ids); more > 0 {
		fmt.Fprintf(a.stdout, "  ... and %d more (every id goes to a file or pipe, or with --json)\n", more)
	}
	return nil
}

// maxListedOnTerminal is how many deleted sessions rm and prune name on a
// terminal.
const maxListedOnTerminal = 20

func quoteAll(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = fmt.Sprintf("%q", id)
	}
	return strings.Join(q, ", ")
}

// errNotConfirmed is returned when the user does not answer yes to a
// confirmation.
var errNotConfirmed = errors.New("not confirmed; nothing deleted")

// refuseUnconfirmed is the error of a deleting command run without --yes
// when it cannot ask.
func (a *app) refuseUnconfirmed(cmd string) error {
	return fmt.Errorf("%s: stdin is not a terminal, so convo cannot ask before deleting; pass --yes to delete without asking", cmd)
}

// confirm asks on the terminal whether to delete: it prints head and the
// sessions (ids and titles, the first ten) on stderr, then "Delete? [y/N]",
// and returns nil when the answer is y or yes, an error matching
// errNotConfirmed otherwise. It refuses at once, without reading, when
// stdin is not a terminal, so that a script without --yes fails instead of
// hanging or deleting.
func (a *app) confirm(cmd, head string, infos []session.Info) error {
	if !isTerminal(a.stdin) {
		return a.refuseUnconfirmed(cmd)
	}
	if len(infos) == 0 {
		return nil // nothing to delete, nothing to ask
	}
	fmt.Fprintln(a.stderr, head)
	const show = 10
	tb := table{}
	for i, in := range infos {
		if i == show {
			break
		}
		tb.add("", in.ID, clipWidth(in.Title, 40))
	}
	tb.write(a.stderr)
	if len(infos) > show {
		fmt.Fprintf(a.stderr, "  ... and %d more\n", len(infos)-show)
	}
	fmt.Fprint(a.stderr, "Delete? [y/N] ")
	answer, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: reading the answer: %w", cmd, err)
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return fmt.Errorf("%s: %w", cmd, errNotConfirmed)
}

// messageCount is the number of messages of infos.
func messageCount(infos []session.Info) int64 {
	var n int64
	for _, in := range infos {
		n += in.MessageCount
	}
	return n
}
