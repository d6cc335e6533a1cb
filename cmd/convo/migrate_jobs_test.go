package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convo-dev/convo/session"
)

// failCreate is a target that fails to create the session victim, and
// counts the sessions being created at once. Its first gate creations
// wait until gate of them are under way together (or fail after a while).
type failCreate struct {
	*session.MemoryStore
	victim         string
	now, maxAtOnce atomic.Int32
	gate           int32
	arrived        atomic.Int32
	open           chan struct{}
}

func newFailCreate(victim string, gate int) *failCreate {
	return &failCreate{MemoryStore: session.NewMemoryStore(), victim: victim, gate: int32(gate), open: make(chan struct{})}
}

var errCreate = errors.New("disk full")

func (s *failCreate) CreateWith(ctx context.Context, id string, opts session.CreateOptions) (session.Session, error) {
	n := s.now.Add(1)
	defer s.now.Add(-1)
	for {
		m := s.maxAtOnce.Load()
		if n <= m || s.maxAtOnce.CompareAndSwap(m, n) {
			break
		}
	}
	if a := s.arrived.Add(1); a <= s.gate {
		if a == s.gate {
			close(s.open)
		}
		select {
		case <-s.open:
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("%d sessions created at once after 10 s, want %d", s.maxAtOnce.Load(), s.gate)
		}
	}
	if id == s.victim {
		return nil, errCreate
	}
	return s.MemoryStore.CreateWith(ctx, id, opts)
}

// migrate copies sessions --jobs at a time: every session is copied and
// verified once, the report adds up, and the first error stops the run
// and is reported with the session it names.
func TestMigrateJobs(t *testing.T) {
	var ids []string
	for i := range 200 {
		ids = append(ids, fmt.Sprintf("s%03d", i))
	}
	be := func(st session.Store) *backend { return &backend{store: st, kind: "memory", close: func() {}} }
	for _, jobs := range []int{1, 8} {
		t.Run(fmt.Sprintf("jobs=%d", jobs), func(t *testing.T) {
			src := memoryWith(t, ids...)
			dst := newFailCreate("", jobs)
			var out, errb bytes.Buffer
			rep, err := testApp(&out, &errb).migrate(t.Context(), be(src), be(dst), jobs)
			if err != nil || !rep.Verified || rep.Sessions != 200 || rep.Created != 200 || rep.MessagesAdded != 200 {
				t.Fatalf("migrate = %+v, %v; want 200 sessions created and verified", rep, err)
			}
			if got := int(dst.maxAtOnce.Load()); got != jobs {
				t.Errorf("%d sessions created at once, want %d", got, jobs)
			}
			for _, id := range ids {
				if in, err := dst.Info(t.Context(), id); err != nil || in.MessageCount != 1 {
					t.Errorf("target %q: %+v, %v", id, in, err)
				}
			}
			// Again: nothing to do.
			rep, err = testApp(&out, &errb).migrate(t.Context(), be(src), be(dst), jobs)
			if err != nil || !rep.Verified || rep.Skipped != 200 || rep.Created != 0 || rep.MessagesAdded != 0 {
				t.Errorf("second migrate = %+v, %v; want 200 already complete", rep, err)
			}

			dst = newFailCreate("s050", 0)
			rep, err = testApp(&out, &errb).migrate(t.Context(), be(src), be(dst), jobs)
			if !errors.Is(err, errCreate) || !strings.Contains(err.Error(), `create "s050"`) {
				t.Errorf("migrate with a failing target = %v; want the failure, naming s050", err)
			}
			if rep.Verified {
				t.Error("a failed migrate reports verified")
			}
		})
	}
	if r := convo(t, "", "--db", "x.db", "migrate", "--to", "y.db", "--jobs", "0"); r.err == nil || !strings.Contains(r.stderr, "--jobs 0: must be at least 1") {
		t.Errorf("migrate --jobs 0: %v, %q", r.err, r.stderr)
	}
}

// import writes sessions --jobs at a time: every session of the file is
// written, the summary lists them in the file's order, and the first error
// stops the import and is reported with the session it names.
func TestImportJobs(t *testing.T) {
	var ids []string
	for i := range 200 {
		ids = append(ids, fmt.Sprintf("s%03d", i))
	}
	var file bytes.Buffer
	var out, errb bytes.Buffer
	if _, _, err := testApp(&out, &errb).export(t.Context(), memoryWith(t, ids...), ids, &file); err != nil {
		t.Fatal(err)
	}
	for _, jobs := range []int{1, 8} {
		t.Run(fmt.Sprintf("jobs=%d", jobs), func(t *testing.T) {
			dst := newFailCreate("", jobs)
			sum, err := importAll(t.Context(), dst, bytes.NewReader(file.Bytes()), len(ids), jobs, true, &progress{})
			if err != nil || sum.sessions != 200 || sum.created != 200 || sum.added != 200 {
				t.Fatalf("import = %+v, %v; want 200 sessions created", sum, err)
			}
			if got := int(dst.maxAtOnce.Load()); got != jobs {
				t.Errorf("%d sessions created at once, want %d", got, jobs)
			}
			for i, r := range sum.results {
				if r.ID != ids[i] || !r.Created || r.Added != 1 {
					t.Fatalf("result %d = %+v, want %s created in the file's order", i, r, ids[i])
				}
			}
			dst = newFailCreate("s050", 0)
			_, err = importAll(t.Context(), dst, bytes.NewReader(file.Bytes()), len(ids), jobs, false, &progress{})
			if !errors.Is(err, errCreate) || !strings.Contains(err.Error(), `session "s050"`) {
				t.Errorf("import into a failing target = %v; want the failure, naming s050", err)
			}
		})
	}
	if r := convo(t, "", "--db", "x.db", "import", "--jobs", "0", "-"); r.err == nil || !strings.Contains(r.stderr, "--jobs 0: must be at least 1") {
		t.Errorf("import --jobs 0: %v, %q", r.err, r.stderr)
	}
}

// migrate's report named a PostgreSQL store by host and database alone
// ("postgres 127.0.0.1/test"), the same for two stores in one database
// that differ by the URL's search_path; it now names the search_path.
func TestPostgresStoreNamesItsSearchPath(t *testing.T) {
	pg := postgresURL(t)
	if pg == "" {
		t.Skip("CONVO_TEST_POSTGRES not set")
	}
	sep := "?"
	if strings.Contains(pg, "?") {
		sep = "&"
	}
	b, err := openBackend(t.Context(), pg+sep+"search_path=public", uniquePrefix(t, pg), false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	if !strings.HasSuffix(b.where, " (search_path public)") {
		t.Errorf("where = %q; want the search_path named", b.where)
	}
}
