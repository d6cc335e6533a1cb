package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/convo-dev/convo/session"
)

// app holds what every command shares: the global flags and the streams.
type app struct {
	stdin io.Reader
	// stdout and stderr make every string safe for a terminal (termWriter);
	// rawStdout and rawStderr are the streams themselves, for terminal
	// detection and the progress bar's own control sequences.
	stdout, stderr       *termWriter
	rawStdout, rawStderr io.Writer

	db     string // --db or CONVO_DB
	prefix string // --prefix
	asJSON bool   // --json (on the commands that have it)

	now func() time.Time
}

// run is the whole program: it parses args, runs one command, and returns
// its error. Output goes to stdout, diagnostics and progress to stderr.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	a := &app{stdin: stdin, stdout: newTermWriter(stdout), stderr: newTermWriter(stderr),
		rawStdout: stdout, rawStderr: stderr, now: time.Now}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	return root.ExecuteContext(ctx)
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "convo",
		Short: "Inspect, search, move and prune convo sessions",
		Long: `convo inspects the conversation sessions that convo stores keep: list them,
read one as a person would, search them, export and import them as JSON Lines,
copy them between SQLite and PostgreSQL, delete an owner's data, prune old
sessions, check and repair tool-call pairing, and browse them in a read-only
web viewer.

The database is given by --db or the CONVO_DB environment variable:
  sqlite:PATH or a plain file path      SQLite (pure-Go driver)
  postgres://... or postgresql://...    PostgreSQL
A SQLite path without a query string is opened with
?_pragma=busy_timeout(10000); a command that writes switches the file to
WAL once it has checked that the tables are convo's.

ls, show, search (without --index), export, doctor (without --repair),
serve and the source of migrate open the store read-only: they never
create, migrate or change anything, so they work on a read-only file or
with a read-only PostgreSQL role, and report a schema older or newer than
this release instead of upgrading it. import, rm, prune, doctor --repair,
search --index, migrate (its --to) and upgrade write, and say so in their
help.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if a.db == "" {
				a.db = os.Getenv("CONVO_DB")
			}
			a.stdout.color = colorWanted(a.rawStdout)
			a.stderr.color = colorWanted(a.rawStderr)
			return nil
		},
	}
	root.Version = version()
	root.SetVersionTemplate("convo {{.Version}}\n")
	root.SetFlagErrorFunc(flagError)
	root.PersistentFlags().StringVar(&a.db, "db", "", "database URL: sqlite:PATH, PATH, or postgres://... (default $CONVO_DB)")
	root.PersistentFlags().StringVar(&a.prefix, "prefix", "", "table prefix of the store (for example chat_)")
	root.AddCommand(
		a.lsCommand(),
		a.showCommand(),
		a.exportCommand(),
		a.importCommand(),
		a.rmCommand(),
		a.pruneCommand(),
		a.doctorCommand(),
		a.searchCommand(),
		a.migrateCommand(),
		a.serveCommand(),
		a.upgradeCommand(),
		a.demoCommand(),
	)
	// The completion command is made here, not when the command line is
	// run, so that it gets the argument check below and names a shell it
	// does not know instead of printing its help with exit status 0
	// (cobra's default for a command that has subcommands).
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		if c.Name() == "help" && c.Run != nil {
			// cobra's help prints "Unknown help topic" and the usage with
			// exit status 0 for a command that does not exist.
			show := c.Run
			c.Run = nil
			c.RunE = func(cmd *cobra.Command, args []string) error {
				found, rest, err := cmd.Root().Find(args)
				if err != nil {
					return fmt.Errorf("help: %w", err)
				}
				if len(rest) > 0 {
					return fmt.Errorf("help: %q has no command %q", found.CommandPath(), rest[0])
				}
				show(cmd, args)
				return nil
			}
			continue
		}
		if c.Name() == "completion" {
			c.Args = func(cmd *cobra.Command, args []string) error {
				if len(args) > 0 {
					return fmt.Errorf("completion: unknown shell %q (want bash, zsh, fish or powershell)", args[0])
				}
				return nil
			}
			c.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
			continue
		}
		if c.Args != nil {
			c.Args = explainArgs(c.Args)
		}
	}
	return root
}

// explainArgs wraps a command's check of its positional arguments so that
// its error names the command and shows its usage line. cobra's own reads
// "accepts 1 arg(s), received 0", or, for a command that takes none,
// "unknown command "x" for "convo ls"".
func explainArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	none := reflect.ValueOf(check).Pointer() == reflect.ValueOf(cobra.NoArgs).Pointer()
	return func(cmd *cobra.Command, args []string) error {
		err := check(cmd, args)
		if err == nil {
			return nil
		}
		if none && len(args) > 0 {
			err = fmt.Errorf("takes no arguments, got %q", args[0])
		}
		return fmt.Errorf("%s: %w (usage: %s)", cmd.Name(), err, cmd.UseLine())
	}
}

// addJSONFlag adds --json to cmd.
func (a *app) addJSONFlag(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&a.asJSON, "json", false, "write JSON instead of a table, for scripts")
}

// open opens the store named by --db. With mustExist, a SQLite file that
// does not exist is an error rather than a new empty database.
func (a *app) open(ctx context.Context, mustExist bool) (*backend, error) {
	if a.db == "" {
		return nil, errors.New("no database: pass --db or set CONVO_DB")
	}
	return openBackend(ctx, a.db, a.prefix, mustExist, false)
}

// openRead opens the store named by --db read-only, for the commands that
// only look: they never create, migrate or change anything.
func (a *app) openRead(ctx context.Context) (*backend, error) {
	if a.db == "" {
		return nil, errors.New("no database: pass --db or set CONVO_DB")
	}
	return openBackend(ctx, a.db, a.prefix, true, true)
}

// isTerminal reports whether w (a stream: stdin, stdout or stderr) is a
// terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// progress is a progress bar on stderr when stderr is a terminal, and does
// nothing otherwise.
type progress struct{ bar *progressbar.ProgressBar }

// newProgress returns a progress bar of total steps (-1: unknown) described
// by desc.
func (a *app) newProgress(total int64, desc string) *progress {
	if !isTerminal(a.rawStderr) {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(a.rawStderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

func (p *progress) add(n int) {
	if p.bar != nil {
		_ = p.bar.Add(n)
	}
}

// set moves the bar to n steps done.
func (p *progress) set(n int64) {
	if p.bar != nil {
		_ = p.bar.Set64(n)
	}
}

func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// parseTime parses a --since/--until value: an RFC 3339 time, a date
// (2006-01-02, midnight UTC: convo prints every time in UTC, whatever the
// machine's time zone), or a duration before now (90m, 36h, 7d, 2w).
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := parseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a time (2026-01-02 or RFC 3339) nor a duration (36h, 7d)", s)
}

// parseDuration is time.ParseDuration that also accepts whole days (7d)
// and weeks (2w). The duration must be positive.
func parseDuration(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	switch {
	case strings.HasSuffix(s, "d") || strings.HasSuffix(s, "w"):
		n, perr := strconv.ParseInt(s[:len(s)-1], 10, 32)
		if perr != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		unit := 24 * time.Hour
		if strings.HasSuffix(s, "w") {
			unit *= 7
		}
		d = time.Duration(n) * unit
	default:
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q (use 90m, 36h, 7d or 2w)", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", s)
	}
	return d, nil
}

// formatTime formats Unix nanoseconds for a table.
func formatTime(ns int64) string {
	if ns == 0 {
		return "-"
	}
	return time.Unix(0, ns).UTC().Format("2006-01-02 15:04:05")
}

// rfc3339 formats Unix nanoseconds for JSON output.
func rfc3339(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// eachSession calls fn with every session matching q, a page at a time,
// holding one page in memory (allSessions holds them all).
func eachSession(ctx context.Context, store session.Store, q session.ListQuery, fn func(session.Info) error) error {
	q.Limit = listPageLimit
	for {
		page, err := session.List(ctx, store, q)
		if err != nil {
			return err
		}
		for _, in := range page.Sessions {
			if err := fn(in); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		if listPageHook != nil {
			listPageHook()
		}
		q.Cursor = page.Next
	}
}

// listPageLimit is the page size of eachSession, and listPageHook, when
// set, runs between its pages (both for tests).
var (
	listPageLimit = session.MaxListLimit
	listPageHook  func()
)

// How a whole-store listing (listEvery) catches the sessions written while
// it ran: passes over the sessions updated since the previous pass began,
// less catchUpSkew (writers on other machines whose clocks are behind this
// one stamp their updates earlier), at most catchUpPasses of them.
const (
	catchUpSkew   = 5 * time.Minute
	catchUpPasses = 8
)

// listEvery calls fn with every session that exists from the start of the
// listing to its end, on a live store too. A listing is newest activity
// first, so a session written while it runs moves above its cursor and a
// single pass misses it (a million sessions take seconds to list, and an
// export or a migration of a live store silently left out the sessions
// appended to meanwhile). So after the full pass, as long as the newest
// update time of the store moved during the last pass, listEvery lists the
// sessions updated since that pass began. fn may be called more than once
// for a session; callers drop the repeats. On a terminal a bar counts the
// sessions listed.
func (a *app) listEvery(ctx context.Context, store session.Store, fn func(session.Info) error) error {
	bar := a.newProgress(-1, "listing")
	defer bar.done()
	newest := func() (int64, error) {
		page, err := session.List(ctx, store, session.ListQuery{Limit: 1})
		if err != nil || len(page.Sessions) == 0 {
			return 0, err
		}
		return page.Sessions[0].UpdatedAt, nil
	}
	var q session.ListQuery
	before, err := newest()
	if err != nil {
		return err
	}
	for pass := 0; ; pass++ {
		began := time.Now()
		if err := eachSession(ctx, store, q, func(in session.Info) error {
			bar.add(1)
			return fn(in)
		}); err != nil {
			return err
		}
		after, err := newest()
		if err != nil {
			return err
		}
		if after == before || pass+1 == catchUpPasses {
			return nil
		}
		// UpdatedAfter is exclusive; the earlier of this pass's start on
		// this machine (less the skew allowed) and the store's newest
		// update time before it.
		q.UpdatedAfter = min(began.Add(-catchUpSkew).UnixNano(), before) - 1
		// A write after this reading moves the newest again, so the next
		// pass's end sees it.
		before = after
	}
}

// allSessionIDs lists the ids of every session (listEvery), each once, in
// the order first listed: a snapshot of what to go through that holds
// about 50 bytes a session, not each session's info (a store of a million
// sessions took 700 MB that way). Going through the pages while working
// instead would miss more: every session updated meanwhile.
func (a *app) allSessionIDs(ctx context.Context, store session.Store) ([]string, error) {
	var ids []string
	err := a.listEvery(ctx, store, func(in session.Info) error {
		ids = append(ids, in.ID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return firstOfEach(ids), nil
}

// firstOfEach returns ids without repeats, each where it first appears;
// it reorders ids in place.
func firstOfEach(ids []string) []string {
	// Sort positions by id (a map of a million ids would take several
	// times the memory of the ids themselves), keep the first of each run.
	pos := make([]int32, len(ids))
	for i := range pos {
		pos[i] = int32(i)
	}
	slices.SortStableFunc(pos, func(x, y int32) int { return strings.Compare(ids[x], ids[y]) })
	keep := make([]bool, len(ids))
	for i, p := range pos {
		keep[p] = i == 0 || ids[pos[i-1]] != ids[p]
	}
	out := ids[:0]
	for i, id := range ids {
		if keep[i] {
			out = append(out, id)
		}
	}
	return out
}

// allSessions lists every session matching q, all pages.
func allSessions(ctx context.Context, store session.Store, q session.ListQuery) ([]session.Info, error) {
	q.Limit = session.MaxListLimit
	var out []session.Info
	for {
		page, err := session.List(ctx, store, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Sessions...)
		if page.Next == "" {
			return out, nil
		}
		q.Cursor = page.Next
	}
}

// oneLine shortens s to one line of at most n runes, for tables.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if n > 0 && len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// plural returns n with the noun that agrees with it, for counts in
// messages: plural(1, "session", "sessions") is "1 session", and with 0 or
// 2 it is "0 sessions", "2 sessions". A noun may carry its verb:
// plural(n, "session is", "sessions are").
func plural[N int | int64](n N, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
