package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// foldBytes is how much of a long text the conversation page shows; the
// rest is one click away ("show all"), so that one huge tool result does
// not make a huge page.
const foldBytes = 16 << 10

// convPage is the data of the conversation template.
type convPage struct {
	Head pageHead
	Info session.Info
	Msgs []msgView
	// OlderURL and NewerURL page through the session ("" at its ends);
	// OlderFragment is OlderURL's messages alone, for app.js.
	OlderURL, OlderFragment, NewerURL string
	// EventsURL, on the newest page, streams the messages appended after
	// the last one shown.
	EventsURL string
	// Totals sums the usage of the whole session when the page holds all
	// of it; otherwise TotalsURL computes it on request.
	Totals    *usageTotals
	TotalsURL string
	// Paged is false for a store that cannot read a stretch of a session
	// (no session.Ranger): the page then holds its newest messages only.
	Paged bool
}

// loadSession loads the session of the request's path, answering the
// request itself when that fails.
func (v *viewer) loadSession(w http.ResponseWriter, r *http.Request) (session.Session, bool) {
	id := r.PathValue("id")
	if err := session.ValidateID(id); err != nil {
		v.storeError(w, r, err)
		return nil, false
	}
	sess, err := v.store.Load(r.Context(), id)
	if err != nil {
		v.storeError(w, r, err)
		return nil, false
	}
	return sess, true
}

// seqParam reads a positive sequence number from the query, answering 400
// when it is malformed.
func (v *viewer) seqParam(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		v.fail(w, r, http.StatusBadRequest, fmt.Sprintf("bad %s: want a message number", name))
		return 0, false
	}
	return n, true
}

// conversation shows one page of a session: the newest messages (live: new
// ones appear as they are appended), or those before ?before=N, after
// ?after=N or around ?at=N (where a search hit links).
func (v *viewer) conversation(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, ok := v.loadSession(w, r)
	if !ok {
		return
	}
	id := sess.ID()
	info := session.Info{ID: id}
	if d, ok := v.store.(session.Describer); ok {
		var err error
		if info, err = d.Info(ctx, id); err != nil {
			v.storeError(w, r, err)
			return
		}
	}
	p := convPage{Head: pageHead{Title: id, SessionID: id}, Info: info}
	if info.Title != "" {
		p.Head.Title = info.Title
	}
	before, ok1 := v.seqParam(w, r, "before")
	if !ok1 {
		return
	}
	after, ok2 := v.seqParam(w, r, "after")
	if !ok2 {
		return
	}
	at, ok3 := v.seqParam(w, r, "at")
	if !ok3 {
		return
	}
	rg, paged := sess.(session.Ranger)
	if !paged {
		// A store without Ranger: its newest messages, no paging.
		msgs, err := sess.GetMessages(ctx, session.Limit(v.msgPage))
		if err != nil {
			v.storeError(w, r, err)
			return
		}
		entries := make([]session.Entry, len(msgs))
		for i, m := range msgs {
			entries[i] = session.Entry{Seq: int64(i + 1), Message: m}
		}
		p.Msgs = v.webMessages(id, entries, nil, true)
		if int64(len(msgs)) >= info.MessageCount {
			t := sumUsage(entries, nil)
			p.Totals = &t
		}
		v.render(w, "conversation.html", p)
		return
	}
	p.Paged = true
	var entries []session.Entry
	var err error
	// A row that cannot be read takes its place in the page as a note
	// (readAround), so that one bad row hides nothing else.
	var bad map[int64]error
	switch {
	case at > 0:
		var older, newer []session.Entry
		var newerBad map[int64]error
		older, bad, err = readAround(ctx, rg, session.RangeQuery{Before: at + 1, Limit: v.msgPage / 2, Newest: true})
		if err == nil {
			newer, newerBad, err = readAround(ctx, rg, session.RangeQuery{After: at, Limit: v.msgPage - len(older)})
		}
		entries = append(older, newer...)
		bad = mergeBad(bad, newerBad)
	case after > 0:
		entries, bad, err = readAround(ctx, rg, session.RangeQuery{After: after, Limit: v.msgPage})
	default:
		entries, bad, err = readAround(ctx, rg, session.RangeQuery{Before: before, Limit: v.msgPage, Newest: true})
	}
	if err != nil {
		v.storeError(w, r, err)
		return
	}
	hasOlder, hasNewer := false, false
	if len(entries) > 0 {
		if hasOlder, err = v.more(ctx, rg, session.RangeQuery{Before: entries[0].Seq, Limit: 1, Newest: true}); err == nil {
			hasNewer, err = v.more(ctx, rg, session.RangeQuery{After: entries[len(entries)-1].Seq, Limit: 1})
		}
		if err != nil {
			v.storeError(w, r, err)
			return
		}
	}
	base := "/s/" + url.PathEscape(id)
	if hasOlder {
		q := "?before=" + strconv.FormatInt(entries[0].Seq, 10)
		p.OlderURL = base + q
		p.OlderFragment = "/older/" + url.PathEscape(id) + q
	}
	last := int64(0)
	if len(entries) > 0 {
		last = entries[len(entries)-1].Seq
	}
	if hasNewer {
		p.NewerURL = base + "?after=" + strconv.FormatInt(last, 10)
	} else {
		p.EventsURL = "/events/" + url.PathEscape(id) + "?after=" + strconv.FormatInt(last, 10)
	}
	p.Msgs = v.webMessages(id, entries, bad, true)
	if !hasOlder && !hasNewer {
		t := sumUsage(entries, bad)
		p.Totals = &t
	} else {
		p.TotalsURL = "/usage/" + url.PathEscape(id)
	}
	v.render(w, "conversation.html", p)
}

// more reports whether q selects any message (one that cannot be read
// counts).
func (v *viewer) more(ctx context.Context, rg session.Ranger, q session.RangeQuery) (bool, error) {
	es, _, err := readAround(ctx, rg, q)
	return len(es) > 0, err
}

// readPage is readAround for a session that may not be a session.Ranger:
// it then fails as session.Range does (session.ErrNotSupported).
func readPage(ctx context.Context, sess session.Session, q session.RangeQuery) ([]session.Entry, map[int64]error, error) {
	rg, ok := sess.(session.Ranger)
	if !ok {
		es, err := session.Range(ctx, sess, q)
		return es, nil, err
	}
	return readAround(ctx, rg, q)
}

// mergeBad returns the rows of both maps (either may be nil).
func mergeBad(a, b map[int64]error) map[int64]error {
	if len(b) == 0 {
		return a
	}
	if a == nil {
		a = make(map[int64]error, len(b))
	}
	maps.Copy(a, b)
	return a
}

// older answers app.js's "load older" with the messages before ?before=N
// alone (list items), and the address of the page before them in the
// X-Convo-Older header ("" when there is none).
func (v *viewer) older(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, ok := v.loadSession(w, r)
	if !ok {
		return
	}
	before, ok := v.seqParam(w, r, "before")
	if !ok {
		return
	}
	entries, bad, err := readPage(ctx, sess, session.RangeQuery{Before: before, Limit: v.msgPage, Newest: true})
	if err != nil {
		v.storeError(w, r, err)
		return
	}
	next := ""
	if len(entries) > 0 {
		rg := sess.(session.Ranger) // session.Range succeeded
		more, err := v.more(ctx, rg, session.RangeQuery{Before: entries[0].Seq, Limit: 1, Newest: true})
		if err != nil {
			v.storeError(w, r, err)
			return
		}
		if more {
			next = "/older/" + url.PathEscape(sess.ID()) + "?before=" + strconv.FormatInt(entries[0].Seq, 10)
		}
	}
	w.Header().Set("X-Convo-Older", next)
	v.render(w, "msgs", v.webMessages(sess.ID(), entries, bad, true))
}

// fullMessage shows one message whole (?seq=N), unfolded: where "show
// all" leads.
func (v *viewer) fullMessage(w http.ResponseWriter, r *http.Request) {
	sess, ok := v.loadSession(w, r)
	if !ok {
		return
	}
	seq, ok := v.seqParam(w, r, "seq")
	if !ok {
		return
	}
	if seq == 0 {
		v.fail(w, r, http.StatusBadRequest, "bad seq: want a message number")
		return
	}
	entries, bad, err := readPage(r.Context(), sess, session.RangeQuery{After: seq - 1, Before: seq + 1, Limit: 1})
	if err != nil {
		v.storeError(w, r, err)
		return
	}
	if len(entries) == 0 {
		v.fail(w, r, http.StatusNotFound, "no such message")
		return
	}
	id := sess.ID()
	p := convPage{Head: pageHead{Title: fmt.Sprintf("%s #%d", id, seq), SessionID: id}, Info: session.Info{ID: id},
		Msgs: v.webMessages(id, entries, bad, false), Paged: true}
	v.render(w, "message.html", p)
}

// usageTotals sums the token usage of a session's messages.
type usageTotals struct {
	message.Usage
	Messages int64
	// Unreadable counts the messages that could not be read (not in
	// Messages: their usage is unknown).
	Unreadable int64
	// Models counts the messages of each model, in order of first use.
	Models []modelCount
}

type modelCount struct {
	Model string
	N     int64
}

// add adds es to the totals; the entries whose Seq is in bad could not be
// read and are only counted.
func (t *usageTotals) add(es []session.Entry, bad map[int64]error) {
	for _, e := range es {
		if _, ok := bad[e.Seq]; ok {
			t.Unreadable++
			continue
		}
		t.Messages++
		if u := e.Message.Usage; u != nil {
			t.Usage = t.Usage.Add(*u)
		}
		if m := e.Message.Model; m != "" {
			i := 0
			for i < len(t.Models) && t.Models[i].Model != m {
				i++
			}
			if i == len(t.Models) {
				t.Models = append(t.Models, modelCount{Model: m})
			}
			t.Models[i].N++
		}
	}
}

func sumUsage(es []session.Entry, bad map[int64]error) usageTotals {
	var t usageTotals
	t.add(es, bad)
	return t
}

// usage answers the usage totals of a whole session, reading it a page of
// session.MaxListLimit messages at a time: memory stays bounded whatever
// the session's length, and the request's deadline bounds the time.
func (v *viewer) usage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, ok := v.loadSession(w, r)
	if !ok {
		return
	}
	var t usageTotals
	after := int64(0)
	for {
		es, bad, err := readPage(ctx, sess, session.RangeQuery{After: after, Limit: session.MaxListLimit})
		if err != nil {
			v.storeError(w, r, err)
			return
		}
		t.add(es, bad)
		if len(es) < session.MaxListLimit {
			break
		}
		after = es[len(es)-1].Seq
	}
	v.render(w, "totals", t)
}

// events streams the messages appended to a session after ?after=N (or the
// Last-Event-ID a reconnecting browser sends) as server-sent events: one
// "message" event per message, its id the message's Seq and its data the
// message's HTML; and an "info" event with the session's title when the
// stream starts and whenever the title changes (sendInfo). New messages
// are read from the last Seq sent, a page at
// a time, when the store's change feed (session.Watcher) reports a change
// to the session, or, for a store without one, every v.poll. If the feed
// fails (at the start or later), the stream says so on the server's log
// and to the page (event "delayed") and polls every v.poll. The request's
// deadline (requestTimeout) ends the stream; the browser reconnects by
// itself, from the last id it received. At most cap(v.streams) streams run
// at once; one more is answered 503 with Retry-After.
func (v *viewer) events(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	select {
	case v.streams <- struct{}{}:
		defer func() { <-v.streams }()
	default:
		w.Header().Set("Retry-After", strconv.Itoa(liveRetryAfter))
		v.fail(w, r, http.StatusServiceUnavailable, fmt.Sprintf("too many live views are open (%d, --max-live); this one retries in %d s", cap(v.streams), liveRetryAfter))
		return
	}
	sess, ok := v.loadSession(w, r)
	if !ok {
		return
	}
	last, ok := v.seqParam(w, r, "after")
	if !ok {
		return
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n < 0 {
			v.fail(w, r, http.StatusBadRequest, "bad Last-Event-ID")
			return
		}
		last = n
	}
	if _, ok := sess.(session.Ranger); !ok {
		v.storeError(w, r, fmt.Errorf("live view: %w", session.ErrNotSupported))
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// Reconnect a second after the stream ends (each ends at the
	// request's deadline).
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil {
		return
	}
	_ = rc.Flush()
	// With a store that has a change feed, a change to the session wakes
	// the loop at once, and polling is only a safety net.
	every := v.poll
	wake, lost, err := v.watch(ctx, sess.ID())
	if wake != nil {
		every *= 10
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	if err != nil && !v.delayed(w, rc, sess.ID(), err) {
		return
	}
	var title *string // the title last sent (sendInfo)
	for {
		es, bad, err := readPage(ctx, sess, session.RangeQuery{After: last, Limit: v.msgPage})
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(v.log, "convo serve: events of %q: %v\n", sess.ID(), err)
				fmt.Fprintf(w, "event: failure\ndata: %s\n\n", oneLine(err.Error(), 200))
			}
			return
		}
		for _, m := range v.webMessages(sess.ID(), es, bad, true) {
			var b strings.Builder
			if err := v.tmpl.ExecuteTemplate(&b, "msg", m); err != nil {
				fmt.Fprintf(v.log, "convo serve: render event: %v\n", err)
				return
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: message\ndata: %s\n\n", m.Seq, sseData(b.String())); err != nil {
				return
			}
			last = m.Seq
		}
		if len(es) > 0 {
			if err := rc.Flush(); err != nil {
				return
			}
		}
		if len(es) == v.msgPage {
			continue // more are waiting
		}
		if !v.sendInfo(ctx, w, rc, sess.ID(), &title) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-wake:
		case err := <-lost:
			wake, lost = nil, nil
			tick.Reset(v.poll)
			if !v.delayed(w, rc, sess.ID(), err) {
				return
			}
		}
	}
}

// sendInfo sends the session's title as an event "info" (data: JSON
// {"title": ...}) when it differs from *last, the one sent before (nil:
// none yet, so the first call always sends it): the page's heading and
// title follow UpdateInfo, which the change feed reports as
// session.ChangeInfo, or which the poll finds. A store without
// session.Describer has no title to send. It reports whether the stream
// can still be written to.
func (v *viewer) sendInfo(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, id string, last **string) bool {
	d, ok := v.store.(session.Describer)
	if !ok {
		return true
	}
	in, err := d.Info(ctx, id)
	if err != nil {
		// A gone session ends the stream at the next read of its
		// messages, which reports it; a failed read is tried again at the
		// next change or poll.
		if ctx.Err() == nil && !errors.Is(err, session.ErrNotFound) {
			fmt.Fprintf(v.log, "convo serve: events of %q: read its title: %v\n", id, err)
		}
		return true
	}
	if *last != nil && **last == in.Title {
		return true
	}
	b, err := json.Marshal(struct {
		Title string `json:"title"`
	}{in.Title})
	if err != nil {
		fmt.Fprintf(v.log, "convo serve: events of %q: %v\n", id, err)
		return true
	}
	// JSON text is one line: no CR or LF to split (sseData).
	if _, err := fmt.Fprintf(w, "event: info\ndata: %s\n\n", b); err != nil {
		return false
	}
	*last = &in.Title
	return rc.Flush() == nil
}

// sseData returns s as the value of an event stream's data field: a line
// of s on each "data: " line. An event stream ends a line at a lone CR as
// at LF, so each CR (alone or before LF) becomes LF: a CR in a message's
// text (a tool's progress output) would otherwise cut the message there and
// let the text after it be read as fields of the stream (id, event). The
// page loses nothing by it: HTML reads CR and CRLF as LF.
func sseData(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\ndata: ")
}

// delayed reports that the change feed of session id failed with err:
// on the server's log, and to the page as an event "delayed" (the page
// says live updates may be delayed). It reports whether the stream can
// still be written to.
func (v *viewer) delayed(w http.ResponseWriter, rc *http.ResponseController, id string, err error) bool {
	fmt.Fprintf(v.log, "convo serve: live view of %q: change feed failed: %v (polling every %s instead)\n", id, err, v.poll)
	if _, err := fmt.Fprintf(w, "event: delayed\ndata: the store's change feed failed: new messages are looked for every %s\n\n", v.poll); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// watch watches session id from now on, until ctx ends, if the store has
// a change feed (session.Watcher): wake receives when the session changes,
// and lost receives the error if the feed fails (or ends) before ctx does.
// A store without a feed gives neither, and so does a SQLite or
// PostgreSQL store whose feed no writer has started yet (the viewer opens
// it read-only, and a read-only store cannot start it, its Watch fails
// with session.ErrReadOnly: sqlite.Store.StartFeed,
// postgres.Store.StartFeed); a watch that cannot start otherwise returns
// its error.
func (v *viewer) watch(ctx context.Context, id string) (wake <-chan struct{}, lost <-chan error, err error) {
	w, ok := v.store.(session.Watcher)
	if !ok {
		return nil, nil, nil
	}
	changes, err := w.Watch(ctx, session.WatchQuery{SessionID: id, After: session.WatchFromNow})
	if errors.Is(err, session.ErrReadOnly) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	wk, ls := make(chan struct{}, 1), make(chan error, 1)
	go func() {
		for _, err := range changes {
			if err != nil {
				if ctx.Err() == nil {
					ls <- err
				}
				return
			}
			select {
			case wk <- struct{}{}:
			default:
			}
		}
		if ctx.Err() == nil {
			ls <- errors.New("the change feed ended")
		}
	}()
	return wk, ls, nil
}

// webMessages prepares entries for the page: paired tool calls, each
// message's Seq, Markdown rendered, and, when fold is set, long texts cut
// at foldBytes with a link to the whole message. The entries whose Seq is
// in bad could not be read (readAround): they are shown as such.
func (v *viewer) webMessages(id string, entries []session.Entry, bad map[int64]error, fold bool) []msgView {
	msgs := make([]message.Message, len(entries))
	for i, e := range entries {
		msgs[i] = e.Message
	}
	view := buildView(msgs)
	for i := range view.Messages {
		m := &view.Messages[i]
		m.Seq = entries[i].Seq
		if err, ok := bad[m.Seq]; ok {
			m.Unreadable = describeUnreadable(err)
			continue
		}
		full := "/m/" + url.PathEscape(id) + "?seq=" + strconv.FormatInt(m.Seq, 10)
		for j := range m.Parts {
			preparePart(&m.Parts[j], fold, full)
		}
	}
	return view.Messages
}

// preparePart folds a part's long texts and renders its Markdown.
func preparePart(p *partView, fold bool, fullURL string) {
	if p.Result != nil {
		preparePart(p.Result, fold, fullURL)
	}
	if fold {
		p.Text, p.Folded = foldText(p.Text, p.Folded)
		p.Args, p.Folded = foldText(p.Args, p.Folded)
		if p.Folded {
			p.FullURL = fullURL
		}
	}
	if p.Kind == "text" || p.Kind == "reasoning" {
		p.HTML = renderMarkdown(p.Text)
	}
}

// foldText cuts s at foldBytes, on a character boundary, and reports
// whether it did (or folded already was).
func foldText(s string, folded bool) (string, bool) {
	if len(s) <= foldBytes {
		return s, folded
	}
	cut := foldBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], true
}

// formatTokens formats a token count with thousands separators.
func formatTokens(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// remoteImageURL returns u when it is an http(s) URL, which the page shows
// as a click-to-load link (see remoteImageClass), and "" otherwise.
func remoteImageURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return ""
	}
	return pu.String()
}

// remoteHost returns the host of an http(s) URL.
func remoteHost(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return pu.Host
}

// listSurvivingBadRows lists a page of sessions. The page survives
// sessions whose stored info cannot be read: they are returned as errors
// beside the page, which holds the others.
func listSurvivingBadRows(ctx context.Context, store session.Store, lq session.ListQuery) (session.ListPage, []error, error) {
	page, err := session.List(ctx, store, lq)
	if err != nil {
		return page, nil, err
	}
	return page, page.Unreadable, nil
}
