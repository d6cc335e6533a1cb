package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// pageRanger is a session.Ranger over a list of seqs, some of which cannot
// be decoded; like the stores, it selects the page q asks for and fails
// with a *session.CorruptError naming one bad row of that page (which one
// is up to pick).
type pageRanger struct {
	session.Session
	seqs  []int64
	bad   map[int64]bool
	pick  func(n int) int
	calls int
}

func (r *pageRanger) Range(_ context.Context, q session.RangeQuery) ([]session.Entry, error) {
	r.calls++
	page := idealPage(r.seqs, q)
	var bad []int64
	for _, s := range page {
		if r.bad[s] {
			bad = append(bad, s)
		}
	}
	if len(bad) > 0 {
		s := bad[r.pick(len(bad))]
		return nil, &session.CorruptError{SessionID: "s", Seq: s, MessageID: fmt.Sprintf("m%d", s), Err: message.ErrMalformed}
	}
	es := []session.Entry{}
	for _, s := range page {
		es = append(es, session.Entry{Seq: s, Message: message.NewUserMessage(strconv.FormatInt(s, 10))})
	}
	return es, nil
}

// idealPage is the page of seqs that q selects, oldest first.
func idealPage(seqs []int64, q session.RangeQuery) []int64 {
	after, before, limit := q.RangeBounds()
	var in []int64
	for _, s := range seqs {
		if s > after && s < before {
			in = append(in, s)
		}
	}
	if len(in) <= limit {
		return in
	}
	if q.Newest {
		return in[len(in)-limit:]
	}
	return in[:limit]
}

// readAround returns, for every stretch and page size, the page the store
// would return if no row were bad, with each bad row in its place and
// named in bad; other errors pass through.
func TestReadAroundIsThePageWithHoles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		var seqs []int64
		for s := int64(1); s <= int64(rng.IntN(30)); s++ {
			if rng.IntN(5) > 0 { // gaps, as pops and quarantines leave
				seqs = append(seqs, s)
			}
		}
		bad := map[int64]bool{}
		for _, s := range seqs {
			if rng.IntN(4) == 0 {
				bad[s] = true
			}
		}
		q := session.RangeQuery{Limit: 1 + rng.IntN(8), Newest: rng.IntN(2) == 0}
		if rng.IntN(2) == 0 {
			q.After = int64(rng.IntN(20))
		}
		if rng.IntN(2) == 0 {
			q.Before = int64(rng.IntN(32))
		}
		r := &pageRanger{seqs: seqs, bad: bad, pick: rng.IntN}
		es, gotBad, err := readAround(t.Context(), r, q)
		if err != nil {
			t.Fatalf("case %d: seqs %v bad %v %+v: %v", i, seqs, bad, q, err)
		}
		want := idealPage(seqs, q)
		var got []int64
		for _, e := range es {
			got = append(got, e.Seq)
			_, named := gotBad[e.Seq]
			if named != bad[e.Seq] {
				t.Fatalf("case %d: seq %d named bad: %v, is bad: %v", i, e.Seq, named, bad[e.Seq])
			}
			if !named && e.Message.Text() != strconv.FormatInt(e.Seq, 10) {
				t.Fatalf("case %d: seq %d holds %q", i, e.Seq, e.Message.Text())
			}
			if named && !errors.Is(gotBad[e.Seq], session.ErrCorrupt) {
				t.Fatalf("case %d: seq %d: %v", i, e.Seq, gotBad[e.Seq])
			}
		}
		if !slices.Equal(got, want) || len(gotBad) != countBad(want, bad) {
			t.Fatalf("case %d: seqs %v bad %v %+v: got %v (bad %v), want %v", i, seqs, bad, q, got, gotBad, want)
		}
		if r.calls > 1+2*len(bad) {
			t.Fatalf("case %d: %d reads for %d bad rows", i, r.calls, len(bad))
		}
	}
	// Not a row of the page, or not a corrupt row: the error as it is.
	r := &pageRanger{seqs: []int64{1, 2}, bad: map[int64]bool{2: true}, pick: func(int) int { return 0 }}
	if _, _, err := readAround(t.Context(), rangeFunc(func(session.RangeQuery) ([]session.Entry, error) {
		return nil, &session.CorruptError{Seq: 9, Err: message.ErrMalformed}
	}), session.RangeQuery{Before: 5}); !errors.Is(err, session.ErrCorrupt) {
		t.Errorf("a bad row outside the stretch: %v", err)
	}
	if _, _, err := readAround(t.Context(), rangeFunc(func(session.RangeQuery) ([]session.Entry, error) {
		return nil, session.ErrNotFound
	}), session.RangeQuery{}); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("a gone session: %v", err)
	}
	if es, bad, err := readAround(t.Context(), r, session.RangeQuery{Limit: 1, Newest: true}); err != nil || len(es) != 1 || es[0].Seq != 2 || bad[2] == nil {
		t.Errorf("a page of one bad row: %v %v %v", es, bad, err)
	}
}

func countBad(seqs []int64, bad map[int64]bool) int {
	n := 0
	for _, s := range seqs {
		if bad[s] {
			n++
		}
	}
	return n
}

type rangeFunc func(session.RangeQuery) ([]session.Entry, error)

func (f rangeFunc) ID() string { return "s" }
func (f rangeFunc) GetMessages(context.Context, *int) ([]message.Message, error) {
	return nil, errors.ErrUnsupported
}
func (f rangeFunc) AddMessages(context.Context, []message.Message) error {
	return errors.ErrUnsupported
}
func (f rangeFunc) PopMessage(context.Context) (*message.Message, error) {
	return nil, errors.ErrUnsupported
}
func (f rangeFunc) Clear(context.Context) error { return errors.ErrUnsupported }
func (f rangeFunc) Range(_ context.Context, q session.RangeQuery) ([]session.Entry, error) {
	return f(q)
}

// A stored row that cannot be decoded made the viewer answer 500 for the
// whole conversation (and its "load older", totals and live stream) and
// `convo show` print nothing. Now every other message is shown, each bad
// row is noted in its place, paging walks the whole session, and show
// fails after printing, naming the rows, on both backends.
func TestCorruptRowsAreShownAround(t *testing.T) {
	const n = 23
	badSeqs := []int64{1, 7, 8, 16, 23}
	for _, db := range backends(t) {
		t.Run(db.name, func(t *testing.T) {
			ctx := t.Context()
			var msgs []message.Message
			for i := 1; i <= n; i++ {
				role := message.RoleUser
				if i%2 == 0 {
					role = message.RoleAssistant
				}
				msgs = append(msgs, msg(fmt.Sprintf("c-%d", i), i, role, message.Text{Text: fmt.Sprintf("message number %d", i)}))
			}
			seed(t, db.url, db.prefix, []demoSession{{id: "c", opts: session.CreateOptions{CreatedAt: at(0)}, msgs: msgs}})
			for _, s := range badSeqs {
				execSQL(t, db.url, fmt.Sprintf(`UPDATE "%smessages" SET parts = '{"not":"an array"}' WHERE session_id = 'c' AND seq = %d`, db.prefix, s))
			}
			b, err := openBackend(ctx, db.url, db.prefix, true, false)
			if err != nil {
				t.Fatal(err)
			}
			defer b.close()
			var log strings.Builder
			v, err := newViewer(b.store, 5, &log)
			if err != nil {
				t.Fatal(err)
			}
			v.msgPage = 5
			srv := httptest.NewServer(v)
			defer srv.Close()

			seqsOf := func(body string) (good, bad []int64) {
				for _, m := range regexp.MustCompile(`<li class="msg item ([^"]*)" id="m(\d+)"`).FindAllStringSubmatch(body, -1) {
					s, _ := strconv.ParseInt(m[2], 10, 64)
					if m[1] == "unreadable" {
						bad = append(bad, s)
					} else {
						good = append(good, s)
					}
				}
				return good, bad
			}
			link := regexp.MustCompile(`id="(older|newer)" href="([^"]+)"`)
			walk := func(start, dir string) (good, bad []int64) {
				next := start
				for range 20 {
					status, _, body := get(t, "GET", srv.URL+next)
					if status != 200 {
						t.Fatalf("%s: status %d\n%s", next, status, body)
					}
					g, bd := seqsOf(body)
					if len(g)+len(bd) > 5 {
						t.Errorf("%s: %d messages on a page of 5", next, len(g)+len(bd))
					}
					for _, s := range bd {
						if !strings.Contains(body, "convo doctor --repair") {
							t.Errorf("%s: unreadable row %d without the fix", next, s)
						}
					}
					good, bad = append(good, g...), append(bad, bd...)
					next = ""
					for _, m := range link.FindAllStringSubmatch(body, -1) {
						if m[1] == dir {
							next = html.UnescapeString(m[2])
						}
					}
					if next == "" {
						slices.Sort(good)
						slices.Sort(bad)
						return good, bad
					}
				}
				t.Fatalf("paging from %s does not end", start)
				return nil, nil
			}
			var wantGood []int64
			for s := int64(1); s <= n; s++ {
				if !slices.Contains(badSeqs, s) {
					wantGood = append(wantGood, s)
				}
			}
			for _, w := range []struct{ start, dir string }{{"/s/c", "older"}, {"/s/c?at=1", "newer"}, {"/s/c?at=8", "older"}} {
				good, bad := walk(w.start, w.dir)
				if w.start == "/s/c?at=8" {
					// The page around message 8 (7-11), then older pages.
					wantG, wantB := []int64{2, 3, 4, 5, 6, 9, 10, 11}, []int64{1, 7, 8}
					if !slices.Equal(good, wantG) || !slices.Equal(bad, wantB) {
						t.Errorf("from %s: readable %v, unreadable %v; want %v and %v", w.start, good, bad, wantG, wantB)
					}
					continue
				}
				if !slices.Equal(good, wantGood) || !slices.Equal(bad, badSeqs) {
					t.Errorf("paging %s from %s: readable %v, unreadable %v; want %v and %v", w.dir, w.start, good, bad, wantGood, badSeqs)
				}
			}
			// "Load older" (app.js), one message whole, the totals.
			if status, _, body := get(t, "GET", srv.URL+"/older/c?before=9"); status != 200 || !strings.Contains(body, `id="m8"`) || !strings.Contains(body, `id="m4"`) {
				t.Errorf("older before 9: %d\n%s", status, body)
			}
			if status, _, body := get(t, "GET", srv.URL+"/m/c?seq=16"); status != 200 || !strings.Contains(body, `class="msg item unreadable" id="m16"`) {
				t.Errorf("message 16 whole: %d\n%s", status, body)
			}
			if status, _, body := get(t, "GET", srv.URL+"/usage/c"); status != 200 || !strings.Contains(body, "over 18 messages (5 unreadable, not counted)") {
				t.Errorf("totals: %d\n%s", status, body)
			}
			// The live stream sends the bad newest row in its place.
			ectx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ectx, "GET", srv.URL+"/events/c?after=20", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			evb := new(strings.Builder)
			_, _ = bufio.NewReader(resp.Body).WriteTo(evb)
			resp.Body.Close()
			ev := evb.String()
			if !strings.Contains(ev, "id: 21\n") || !strings.Contains(ev, "id: 23\n") || !strings.Contains(ev, `class="msg item unreadable" id="m23"`) {
				t.Errorf("events after 20:\n%s", ev)
			}

			// convo show prints the others, notes each bad row, and fails.
			r := convo(t, "", db.args("show", "--no-pager", "c")...)
			if r.err == nil || !strings.Contains(r.stderr, `5 messages of session "c" cannot be read (seq 1, 7, 8, 16, 23`) || !strings.Contains(r.stderr, "convo doctor --repair") {
				t.Errorf("show: %v\nstderr: %s", r.err, r.stderr)
			}
			for _, want := range []string{"[1] unreadable (seq 1)", "message number 2", "[8] unreadable (seq 8)", "message number 22", "[23] unreadable (seq 23)"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("show: no %q in\n%s", want, r.stdout)
				}
			}
			r = convo(t, "", db.args("show", "--tail", "4", "c")...)
			if r.err == nil || !strings.Contains(r.stdout, "[20] assistant") || !strings.Contains(r.stdout, "[23] unreadable") || strings.Contains(r.stdout, "[19]") {
				t.Errorf("show --tail 4: %v\n%s", r.err, r.stdout)
			}
			r = convo(t, "", db.args("show", "--json", "c")...)
			var out struct {
				Messages   []json.RawMessage `json:"messages"`
				Unreadable []corruptRow      `json:"unreadable"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.err == nil {
				t.Fatalf("show --json: %v, exit %v\n%s", err, r.err, r.stdout)
			}
			var gotBad []int64
			for _, u := range out.Unreadable {
				gotBad = append(gotBad, u.Seq)
			}
			if len(out.Messages) != n-len(badSeqs) || !slices.Equal(gotBad, badSeqs) {
				t.Errorf("show --json: %d messages, unreadable %v", len(out.Messages), gotBad)
			}
		})
	}
}

// A fork whose fork point (the last message it inherited) cannot be read
// lost show's mark of where the inherited messages end: the mark is found
// by the message's id, and an unreadable row had none.
func TestShowMarksAnUnreadableForkPoint(t *testing.T) {
	for _, db := range backends(t) {
		t.Run(db.name, func(t *testing.T) {
			seedForkedTrip(t, db).close()
			execSQL(t, db.url, fmt.Sprintf(`UPDATE "%smessages" SET usage = '[1]' WHERE session_id = 'trip-retry' AND id = 'm-trip-4'`, db.prefix))
			r := runInProcess(t, "", db.args("show", "--no-pager", "trip-retry")...)
			mark := "--- forked from trip-paris here"
			bad, i, own := strings.Index(r.stdout, "unreadable (seq"), strings.Index(r.stdout, mark), strings.Index(r.stdout, "Sunny Saturday")
			if r.err == nil || bad < 0 || i < bad || own < i {
				t.Errorf("show of a fork whose fork point cannot be read: %v\n%s", r.err, r.stdout)
			}
		})
	}
}

// The summary names the first 20 unreadable rows and counts the rest, so
// that a session with thousands of them does not print one huge line.
func TestUnreadableErrorNamesTheFirstRows(t *testing.T) {
	if unreadableError("s", nil) != nil {
		t.Error("no bad row: an error")
	}
	bad := map[int64]error{}
	for s := int64(1); s <= 1000; s++ {
		bad[s*2] = session.ErrCorrupt
	}
	err := unreadableError("s", bad)
	want := `1000 messages of session "s" cannot be read (seq 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40 and 980 more; corrupt stored row): ` + repairHint
	if err == nil || err.Error() != want || !errors.Is(err, session.ErrCorrupt) {
		t.Errorf("got %v\nwant %s", err, want)
	}
	if err := unreadableError("s", map[int64]error{7: session.ErrCorrupt}); err == nil || !strings.HasPrefix(err.Error(), `1 message of session "s" cannot be read (seq 7;`) {
		t.Errorf("one: %v", err)
	}
}
