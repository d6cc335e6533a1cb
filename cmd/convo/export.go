package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/convo-dev/convo/internal/jsonerr"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// The export format: JSON Lines, one object per line, each with a "type".
//
//	{"type":"convo-export","version":1}
//	{"type":"session","id":"s1","owner":"u1","title":"…","metadata":{…},"created_at":1732460000000000000,"updated_at":1732470000000000000}
//	{"type":"message","session":"s1","message":{…message JSON…}}
//
// The first line is the header. Each session line is followed by the lines
// of its messages, oldest first. Times are Unix nanoseconds. updated_at came
// after the first release of version 1: it is optional, and a file without
// it imports as before (the session's last update is then the import), so
// the version stays 1.
const exportVersion = 1

// exportHeader is the first line of an export.
type exportHeader struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
}

// exportSession is a session line.
type exportSession struct {
	Type      string            `json:"type"`
	ID        string            `json:"id"`
	Owner     string            `json:"owner,omitempty"`
	Title     string            `json:"title,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	CreatedAt int64             `json:"created_at,omitempty"`
	UpdatedAt int64             `json:"updated_at,omitempty"`
	// Parent and ForkMessageID are a fork's link (session.Info.ParentID
	// and ForkMessageID); import records them.
	Parent        string `json:"parent,omitempty"`
	ForkMessageID string `json:"fork_message_id,omitempty"`
}

// exportMessage is a message line.
type exportMessage struct {
	Type    string          `json:"type"`
	Session string          `json:"session"`
	Message json.RawMessage `json:"message"`
}

const formatHelp = `The format is JSON Lines (one JSON object per line, UTF-8):

  {"type":"convo-export","version":1}
  {"type":"session","id":"s1","owner":"u1","title":"Trip","metadata":{"k":"v"},"created_at":1732460000000000000,"updated_at":1732470000000000000}
  {"type":"message","session":"s1","message":{"id":"0193…","role":"user","parts":[…],"created_at":…}}
  …

The first line is the header. Each session line (owner, title, metadata
optional; created_at and updated_at, the time of its last activity, in Unix
nanoseconds, optional) is followed by its messages, oldest first, each in
the message JSON of package message (see its documentation) and naming its
session. Every message must have an id.`

func (a *app) exportCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [ID...]",
		Short: "Write sessions as JSON Lines",
		Long: `export writes the given sessions, or every session, with their owner, title,
metadata, creation and last-update times and messages, to stdout or --output.
Of a live store, it writes every session that exists from its start until
the session's turn comes, once, as it is then (a session written while the
store is listed included); sessions created after the listing are not in it.

` + formatHelp,
		Example: `  convo export --db chat.db > all.jsonl
  convo export --db chat.db s1 s2 -o two.jsonl`,
		RunE: func(cmd *cobra.Command, ids []string) error {
			for _, id := range ids {
				if err := session.ValidateID(id); err != nil {
					return fmt.Errorf("export: %w", err)
				}
			}
			var out io.Writer = a.stdout
			var f *os.File
			if output != "" && output != "-" {
				// Write beside the target and rename only when the whole
				// export succeeded: a failed export leaves an existing file
				// (often a backup) as it was. The file is made before the
				// store is opened, so a directory that does not exist is
				// reported at once, by the name the user gave.
				var err error
				if f, err = os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".*.tmp"); err != nil {
					var pe *fs.PathError
					if errors.As(err, &pe) {
						err = pe.Err // its path is the temporary file's
					}
					return fmt.Errorf("export: --output %s: %w", output, err)
				}
				defer func() {
					if f != nil {
						f.Close()
						os.Remove(f.Name())
					}
				}()
				// A replaced file keeps its permissions; a new one is private
				// (0600), since it holds conversations.
				if st, err := os.Stat(output); err == nil {
					if err := f.Chmod(st.Mode().Perm()); err != nil {
						return fmt.Errorf("export: %w", err)
					}
				}
				out = f
			}
			b, err := a.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer b.close()
			n, m, err := a.export(cmd.Context(), b.store, ids, out)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			if f != nil {
				if err := f.Sync(); err != nil {
					return fmt.Errorf("export: %w", err)
				}
				if err := f.Close(); err != nil {
					return fmt.Errorf("export: %w", err)
				}
				if err := os.Rename(f.Name(), output); err != nil {
					os.Remove(f.Name())
					f = nil
					return fmt.Errorf("export: %w", err)
				}
				f = nil
			}
			fmt.Fprintf(a.stderr, "exported %s, %s\n", plural(n, "session", "sessions"), plural(m, "message", "messages"))
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	cmd.ValidArgsFunction = a.completeSessionIDs
	return cmd
}

// export writes the sessions ids (all when empty) to w.
//
// A session with a row that cannot be read is left out, named on stderr,
// and the others are exported; the error then says how many were left out.
// Whatever happens, the output ends with a whole line.
func (a *app) export(ctx context.Context, store session.Store, ids []string, w io.Writer) (sessions, messages int, err error) {
	// What to export, in order: every session, oldest first (an export
	// reads like a log), or the ids given. Of a whole store only each
	// session's creation time and id are held (about 50 bytes a session,
	// not its whole info: a store of a million sessions took 736 MB); the
	// info is read again as each session is written, and a session
	// deleted since the listing is left out.
	type entry struct {
		created int64
		id      string
	}
	var order []entry
	d, describes := store.(session.Describer)
	whole := len(ids) == 0
	if whole {
		err := a.listEvery(ctx, store, func(in session.Info) error {
			order = append(order, entry{in.CreatedAt, in.ID})
			return nil
		})
		if err != nil {
			return 0, 0, err
		}
		// A session listed twice (listEvery) is written once: an export
		// with a session twice is one that import refuses.
		slices.SortFunc(order, func(a, b entry) int { return strings.Compare(a.id, b.id) })
		order = slices.CompactFunc(order, func(a, b entry) bool { return a.id == b.id })
		slices.SortFunc(order, func(a, b entry) int {
			if c := cmp.Compare(a.created, b.created); c != 0 {
				return c
			}
			return strings.Compare(a.id, b.id)
		})
	} else {
		for _, id := range ids {
			order = append(order, entry{id: id})
		}
	}
	info := func(id string) (session.Info, error) {
		if describes {
			return d.Info(ctx, id)
		}
		if ok, err := store.Exists(ctx, id); err != nil {
			return session.Info{}, err
		} else if !ok {
			return session.Info{}, fmt.Errorf("%q: %w", id, session.ErrNotFound)
		}
		return session.Info{ID: id}, nil
	}
	if !whole {
		// The ids given must all exist before anything is written.
		for _, e := range order {
			if _, err := info(e.id); errors.Is(err, session.ErrNotFound) {
				return 0, 0, fmt.Errorf("no session %q", e.id) // as show and rm say it
			} else if err != nil {
				return 0, 0, err
			}
		}
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	// The buffer holds whole lines only (each session's lines are written
	// once all its messages are read), so flushing it on an error too
	// never leaves half a line.
	defer func() {
		if ferr := bw.Flush(); err == nil {
			err = ferr
		}
	}()
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(exportHeader{Type: "convo-export", Version: exportVersion}); err != nil {
		return 0, 0, err
	}
	bar := a.newProgress(int64(len(order)), "export")
	defer bar.done()
	var unreadable int
	for _, e := range order {
		in, err := info(e.id)
		if whole && errors.Is(err, session.ErrNotFound) {
			bar.add(1) // deleted since the listing
			continue
		}
		if errors.Is(err, session.ErrCorrupt) && in.ID != "" {
			// Info that cannot be read in full (its metadata) comes with
			// what could be read, as the listing gives it.
			err = nil
		}
		if err != nil {
			return sessions, messages, err
		}
		sess, err := store.Load(ctx, in.ID)
		if whole && errors.Is(err, session.ErrNotFound) {
			bar.add(1)
			continue
		}
		if err != nil {
			return sessions, messages, err
		}
		msgs, err := sess.GetMessages(ctx, nil)
		if whole && errors.Is(err, session.ErrNotFound) {
			bar.add(1) // deleted since Load
			continue
		}
		if row, ok := asCorruptRow(err); ok {
			fmt.Fprintln(a.stderr, "export: "+unreadableNote(row))
			unreadable++
			bar.add(1)
			continue
		}
		if err != nil {
			return sessions, messages, err
		}
		if err := enc.Encode(exportSession{Type: "session", ID: in.ID, Owner: in.Owner, Title: in.Title,
			Metadata: in.Metadata, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt,
			Parent: in.ParentID, ForkMessageID: in.ForkMessageID}); err != nil {
			return sessions, messages, err
		}
		for _, m := range msgs {
			raw, err := m.MarshalJSON()
			if err != nil {
				return sessions, messages, err
			}
			if err := enc.Encode(exportMessage{Type: "message", Session: in.ID, Message: raw}); err != nil {
				return sessions, messages, err
			}
			messages++
		}
		sessions++
		bar.add(1)
	}
	if unreadable > 0 {
		return sessions, messages, fmt.Errorf("%s left out: a stored row cannot be read (see above)", plural(unreadable, "session", "sessions"))
	}
	return sessions, messages, nil
}

// importSession is one session read from an export, validated.
type importSession struct {
	hdr  exportSession
	msgs []message.Message
}

// maxLine is the longest line import accepts (a message with large binary
// parts, base64-encoded).
const maxLine = 256 << 20

// readExport reads and validates an export, and calls fn with each
// session once its last message is read.
// It holds one session's messages at a time and the ids of the sessions
// read so far, never the whole file. It reports the first problem as
// "line N: ..."; an error from fn is returned as it is.
func readExport(r io.Reader, fn func(*importSession) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), maxLine)
	var (
		cur  *importSession
		seen = map[string]struct{}{}
		ids  map[string]bool
		line int
	)
	flush := func() error {
		if cur == nil {
			return nil
		}
		return fn(cur)
	}
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		if len(raw) == 0 {
			continue
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
		}
		if !utf8.Valid(raw) {
			// JSON must be UTF-8 (RFC 8259 section 8.1); encoding/json would
			// silently put U+FFFD in place of the bad bytes.
			bad := 0
			for bad < len(raw) {
				r, size := utf8.DecodeRune(raw[bad:])
				if r == utf8.RuneError && size <= 1 {
					break
				}
				bad += size
			}
			return fail("not valid UTF-8 (byte %d of the line); convo exports are UTF-8", bad+1)
		}
		var probe struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return fail("not a JSON object: %s", jsonerr.Describe(err))
		}
		if line == 1 {
			var h exportHeader
			if err := json.Unmarshal(raw, &h); err != nil || h.Type != "convo-export" {
				return fail(`the first line must be {"type":"convo-export","version":1}`)
			}
			if h.Version != exportVersion {
				return fail("export version %d is not supported (this convo reads version %d)", h.Version, exportVersion)
			}
			continue
		}
		switch probe.Type {
		case "session":
			var s exportSession
			if err := json.Unmarshal(raw, &s); err != nil {
				return fail("session: %s", jsonerr.Describe(err))
			}
			if err := session.ValidateID(s.ID); err != nil {
				return fail("session %q: %v", s.ID, err)
			}
			if s.Parent != "" {
				if err := session.ValidateID(s.Parent); err != nil {
					return fail("session %q: parent %q: %v", s.ID, s.Parent, err)
				}
			}
			if _, dup := seen[s.ID]; dup {
				return fail("session %q appears twice", s.ID)
			}
			seen[s.ID] = struct{}{}
			if err := flush(); err != nil {
				return err
			}
			cur = &importSession{hdr: s}
			ids = map[string]bool{}
		case "message":
			var em exportMessage
			if err := json.Unmarshal(raw, &em); err != nil {
				return fail("message: %s", jsonerr.Describe(err))
			}
			if cur == nil || em.Session != cur.hdr.ID {
				return fail("message for session %q does not follow that session's line", em.Session)
			}
			var m message.Message
			if err := m.UnmarshalJSON(em.Message); err != nil {
				return fail("message: %v", err)
			}
			if m.ID == "" {
				return fail("message has no id")
			}
			if ids[m.ID] {
				return fail("message %q appears twice in session %q", m.ID, cur.hdr.ID)
			}
			ids[m.ID] = true
			if err := m.Validate(); err != nil {
				return fail("message %q: %v", m.ID, err)
			}
			cur.msgs = append(cur.msgs, m)
		case "convo-export":
			return fail("a second header line")
		default:
			return fail("unknown line type %q (want session or message)", probe.Type)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than %d bytes", line+1, maxLine)
		}
		return err
	}
	if line == 0 {
		return errors.New("empty file: no convo-export header")
	}
	return flush()
}

// importResult says what import did to one session.
type importResult struct {
	ID       string `json:"id"`
	Created  bool   `json:"created"`
	Added    int    `json:"added"`
	Skipped  int    `json:"skipped"`
	Messages int    `json:"messages"`
}

func (a *app) importCommand() *cobra.Command {
	jobs := defaultJobs
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Read sessions from a JSON Lines export (writes to the database)",
		Long: `import reads a file written by export ("-" for stdin) into the store.

It reads and validates the whole file first: a malformed line is reported as
"line N: ..." and nothing is written. Then it reads the file again and,
session by session (each in one atomic append), creates the sessions that do
not exist, with their owner, title, metadata and creation time, and appends
the messages each session lacks. It holds one session at a time in memory,
not the file (stdin, or a pipe such as <(gunzip -c export.jsonl.gz), is copied to a temporary file for the second reading). Messages are matched by id, so importing the same file twice, or a
later export of a session already imported, adds only what is new. The info
of a session that already exists is left as it is. --jobs sessions are
written at once (the summary lists them in the file's order); the first
error stops the import, and the sessions written before it stay written:
run it again to finish.

A session that the import writes to and that then holds exactly the file's
messages gets the file's updated_at as its last update (when the store can
record it, as SQLite and PostgreSQL can), so imported sessions keep their
order in ls and their age for prune. A session that also holds messages of
its own keeps the time of the import.

` + formatHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if jobs < 1 {
				return fmt.Errorf("import: --jobs %d: must be at least 1", jobs)
			}
			src, cleanup, err := a.importSource(args[0])
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			defer cleanup()
			// First reading: validate everything and count the sessions
			// (for the progress bar); write nothing.
			sessions := 0
			if err := readExport(src, func(*importSession) error { sessions++; return nil }); err != nil {
				return fmt.Errorf("import: %s: %w", args[0], err)
			}
			if _, err := src.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("import: %w", err)
			}
			b, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			defer b.close()
			bar := a.newProgress(int64(sessions), "import")
			sum, err := importAll(ctx, b.store, src, sessions, jobs, a.asJSON, bar)
			bar.done()
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			return a.reportImport(sum)
		},
	}
	cmd.Flags().IntVar(&jobs, "jobs", defaultJobs, "sessions written at once")
	a.addJSONFlag(cmd)
	return cmd
}

// importAll imports the sessions of an export that holds n of them (as a
// first reading counted), jobs sessions at a time: one goroutine reads the
// export and hands each session to the first free writer, so at most about
// jobs sessions are held in memory. The summary lists the sessions in the
// file's order (keep: --json lists each one). The first error stops the
// import; the sessions written before it stay written.
func importAll(ctx context.Context, store session.Store, src io.Reader, n, jobs int, keep bool, bar *progress) (importSummary, error) {
	type job struct {
		i int
		s *importSession
	}
	results := make([]importResult, n)
	done := make([]bool, n)
	g, gctx := errgroup.WithContext(ctx)
	work := make(chan job)
	for range max(jobs, 1) {
		g.Go(func() error {
			for j := range work {
				res, err := importOne(gctx, store, j.s)
				if err != nil {
					return fmt.Errorf("session %q: %w", j.s.hdr.ID, err)
				}
				results[j.i], done[j.i] = res, true
				bar.add(1)
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(work)
		i := 0
		return readExport(src, func(s *importSession) error {
			if i >= n {
				return fmt.Errorf("the export changed since it was first read: more than %d sessions", n)
			}
			select {
			case work <- job{i, s}:
				i++
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	})
	err := g.Wait()
	var sum importSummary
	for i, r := range results {
		if done[i] {
			sum.add(r, keep)
		}
	}
	if err == nil {
		err = ctx.Err()
	}
	return sum, err
}

// importOne creates s if needed and appends the messages it lacks.
func importOne(ctx context.Context, store session.Store, s *importSession) (importResult, error) {
	res := importResult{ID: s.hdr.ID, Messages: len(s.msgs)}
	sess, err := store.Load(ctx, s.hdr.ID)
	switch {
	case errors.Is(err, session.ErrNotFound):
		sess, err = createLike(ctx, store, s.hdr.ID, session.CreateOptions{Owner: s.hdr.Owner, Title: s.hdr.Title,
			Metadata: s.hdr.Metadata, CreatedAt: s.hdr.CreatedAt, ParentID: s.hdr.Parent, ForkMessageID: s.hdr.ForkMessageID})
		if err != nil {
			return res, err
		}
		res.Created = true
	case err != nil:
		return res, err
	}
	missing, held, err := lacking(ctx, sess, s.msgs)
	if err != nil {
		return res, err
	}
	if len(missing) > 0 {
		if err := sess.AddMessages(ctx, missing); err != nil {
			return res, err
		}
	}
	res.Added = len(missing)
	res.Skipped = len(s.msgs) - len(missing)
	// The append stamped the session with the time of the import. When the
	// session now holds exactly the file's messages (made by this import,
	// or by an earlier one of the same sessions that was interrupted), its
	// last activity is the file's. A session with messages of its own was
	// active here and keeps the append's time; one this import did not
	// write to is left as it is, so importing a file again changes nothing.
	if (res.Created || res.Added > 0) && held+len(missing) == len(s.msgs) {
		if err := keepUpdatedAt(ctx, store, s.hdr.ID, s.hdr.UpdatedAt); err != nil {
			return res, err
		}
	}
	return res, nil
}

// keepUpdatedAt records at, a session's last activity in the store it was
// copied from, as the last update of the session id, when store can
// (session.Importer) and at is known (an export without updated_at has 0).
// Otherwise the copy keeps the time it was made, which is all such a store
// allows.
func keepUpdatedAt(ctx context.Context, store session.Store, id string, at int64) error {
	imp, ok := store.(session.Importer)
	if !ok || at <= 0 {
		return nil
	}
	if err := imp.SetUpdatedAt(ctx, id, at); err != nil {
		return fmt.Errorf("keep the last update time: %w", err)
	}
	return nil
}

// createLike creates the session id with opts, keeping owner and info when
// the store can.
func createLike(ctx context.Context, store session.Store, id string, opts session.CreateOptions) (session.Session, error) {
	if d, ok := store.(session.Describer); ok {
		return d.CreateWith(ctx, id, opts)
	}
	if opts.Owner != "" || opts.Title != "" || len(opts.Metadata) > 0 {
		return nil, fmt.Errorf("store %T keeps no owner or title: %w", store, session.ErrNotSupported)
	}
	return store.Create(ctx, id)
}

// lacking returns the messages of msgs whose ids sess does not hold, and
// how many messages sess holds. sess holds no message that msgs lacks when
// held+len(missing) == len(msgs) (ids are unique within a session and
// within msgs).
func lacking(ctx context.Context, sess session.Session, msgs []message.Message) (missing []message.Message, held int, err error) {
	have, err := sess.GetMessages(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	if len(have) == 0 {
		return msgs, 0, nil
	}
	ids := make(map[string]bool, len(have))
	for _, m := range have {
		ids[m.ID] = true
	}
	for _, m := range msgs {
		if !ids[m.ID] {
			missing = append(missing, m)
		}
	}
	return missing, len(have), nil
}

// importSummary adds up what import did; it keeps each session's result
// only for --json, which lists them.
type importSummary struct {
	results           []importResult
	sessions, created int
	added, skipped    int
}

func (s *importSummary) add(r importResult, keep bool) {
	s.sessions++
	if r.Created {
		s.created++
	}
	s.added += r.Added
	s.skipped += r.Skipped
	if keep {
		s.results = append(s.results, r)
	}
}

// importSource returns the export to read twice: the file named, or a
// temporary copy of what cannot be read twice (stdin for "-", and a named
// pipe or a shell's process substitution such as <(gunzip -c x.gz), which
// a second reading would find empty or could not seek), and a function
// that closes (and removes) it.
func (a *app) importSource(name string) (io.ReadSeeker, func(), error) {
	var in io.Reader = a.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		if st.Mode().IsRegular() {
			return f, func() { f.Close() }, nil
		}
		defer f.Close()
		in = f
	}
	f, err := os.CreateTemp("", "convo-import-*.jsonl")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() {
		f.Close()
		os.Remove(f.Name())
	}
	if _, err := io.Copy(f, in); err != nil {
		cleanup()
		if name == "-" {
			return nil, nil, fmt.Errorf("read stdin: %w", err)
		}
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		cleanup()
		return nil, nil, err
	}
	return f, cleanup, nil
}

func (a *app) reportImport(sum importSummary) error {
	if a.asJSON {
		results := sum.results
		if results == nil {
			results = []importResult{}
		}
		return writeJSON(a.stdout, struct {
			Sessions        []importResult `json:"sessions"`
			Created         int            `json:"created"`
			MessagesAdded   int            `json:"messages_added"`
			MessagesSkipped int            `json:"messages_skipped"`
		}{results, sum.created, sum.added, sum.skipped})
	}
	fmt.Fprintf(a.stdout, "imported %s (%d new), %s added, %d already present\n",
		plural(sum.sessions, "session", "sessions"), sum.created, plural(sum.added, "message", "messages"), sum.skipped)
	return nil
}
