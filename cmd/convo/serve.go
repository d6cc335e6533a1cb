package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/convo-dev/convo/session"
)

//go:embed web/templates/*.html web/static/*
var webFS embed.FS

// contentSecurityPolicy allows only the viewer's own stylesheets and
// script (/static/app.js: no inline script, none from data: or elsewhere,
// no inline style), requests (fetch, server-sent events) to the viewer only,
// and images from the viewer, data: URLs it builds from binary parts, and
// the http(s) image URLs that messages hold, which the page loads only when
// the reader clicks one.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data: https: http:; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (a *app) serveCommand() *cobra.Command {
	var (
		addr       string
		pageSize   int
		token      string
		allowHosts []string
		maxLive    int
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Browse sessions in a read-only web viewer",
		Long: `serve starts a read-only web viewer of the store on --addr (127.0.0.1:8080 by
default; it serves only GET and HEAD): a session list with the filters of
convo ls and keyset paging; a search box (best matches first, a page at a
time, up to 1,000), scoped to the owner or session of the page; and a
conversation view, 200 messages a page with older ones on request, live as
messages are appended (up to --max-live pages at once; more catch up
later), with Markdown rendered safely (raw text one click
away), model and token usage, tool calls beside their results, long texts
folded, and images from other hosts loaded only on a click.

On a SQLite store whose full-text index lags far behind (the application
never searched), serve says so at its start: each search then reads every
message not in the index and may take longer than a request may (30 s);
convo search --index builds the index once.

All assets are built into the binary; the pages load nothing from elsewhere
except images that messages link to. It prints the URL it listens on, and
stops on Ctrl-C.

It answers only requests addressed to it by an IP address, localhost, or a
name given with --allow-host, so that no web page can reach it through a
name of its own (DNS rebinding). On an address other machines can reach
(0.0.0.0, a LAN address, an empty host) it refuses to start without an access
token (--token, or the CONVO_SERVE_TOKEN environment variable); every request
must then carry it: open the printed URL, which ends in ?token=..., and the
browser keeps it in a cookie; scripts send "Authorization: Bearer TOKEN".`,
		Example: `  convo serve --db chat.db
  convo serve --db postgres://user@db.example/convo --addr 127.0.0.1:9000
  CONVO_SERVE_TOKEN=$(openssl rand -hex 16) convo serve --db chat.db --addr 0.0.0.0:8080 --allow-host viewer.internal`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if pageSize < 1 || pageSize > session.MaxListLimit {
				return fmt.Errorf("serve: --page-size must be between 1 and %d", session.MaxListLimit)
			}
			if maxLive < 1 {
				return fmt.Errorf("serve: --max-live must be at least 1")
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return fmt.Errorf("serve: --addr: %w", err)
			}
			if token == "" {
				token = os.Getenv("CONVO_SERVE_TOKEN")
			}
			if token == "" && !loopbackOnly(addr) {
				return fmt.Errorf("serve: --addr %s can be reached from other machines and the viewer shows every session: give an access token with --token or CONVO_SERVE_TOKEN, or listen on 127.0.0.1", addr)
			}
			b, err := a.openRead(ctx)
			if err != nil {
				return err
			}
			defer b.close()
			// A search of a SQLite store whose index lags far behind reads
			// every message it lacks, and may not finish within the
			// request's time: say so now, and how to fix it. Not knowing
			// is no reason not to show the sessions.
			if _, err := a.searchBacklog(ctx, "serve", b.store, false); err != nil {
				fmt.Fprintf(a.stderr, "serve: cannot tell how much of the full-text index is missing (%v); searches may be slow or fail\n", err)
			}
			v, err := newViewer(b.store, pageSize, a.stderr)
			if err != nil {
				return err
			}
			v.setMaxLive(maxLive)
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			fmt.Fprintf(a.stdout, "convo viewer on http://%s/ (Ctrl-C to stop)\n", ln.Addr())
			if token != "" {
				fmt.Fprintf(a.stdout, "open http://%s/?token=%s (the token is required on every request)\n", ln.Addr(), url.QueryEscape(token))
			}
			if !loopbackOnly(addr) {
				fmt.Fprintf(a.stdout, "listening on %s: reachable from other machines\n", ln.Addr())
			}
			srv := &http.Server{Handler: newGuard(v, allowHosts, token), ReadHeaderTimeout: 10 * time.Second}
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return fmt.Errorf("serve: %w", err)
			case <-ctx.Done():
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(sctx)
				return nil
			}
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().IntVar(&pageSize, "page-size", 50, "sessions per page in the list")
	cmd.Flags().StringVar(&token, "token", "", "access token every request must carry (default $CONVO_SERVE_TOKEN; required off loopback)")
	cmd.Flags().IntVar(&maxLive, "max-live", DefaultMaxLive, "live conversation views served at once; more wait and retry (503)")
	cmd.Flags().StringSliceVar(&allowHosts, "allow-host", nil, "a host name the viewer answers to besides IP addresses and localhost (repeatable)")
	return cmd
}

// maxQueryBytes bounds the search text the viewer and convo search accept.
// A search's cost grows with its terms (issue 17 measured 22 s for a 1 KB
// viewer query); searches use at most 64 terms, and no real query needs
// more than this.
const maxQueryBytes = 512

// viewer is the web viewer's handler.
type viewer struct {
	store    session.Store
	pageSize int
	// msgPage is how many messages a page of a conversation shows.
	msgPage int
	// poll is how often the live view of a conversation looks for new
	// messages when the store cannot notify.
	poll time.Duration
	// streams holds a token per live stream open, up to its capacity
	// (DefaultMaxLive, or --max-live).
	streams chan struct{}
	log     io.Writer
	tmpl    *template.Template
	mux     *http.ServeMux
	now     func() time.Time
}

// messagesPerPage is the page size of a conversation: a page of a
// 100,000-message session reads this many rows and no more.
const messagesPerPage = 200

// newViewer returns the viewer of store.
func newViewer(store session.Store, pageSize int, log io.Writer) (*viewer, error) {
	tmpl, err := template.New("").Funcs(template.FuncMap{
		"time":      formatTime,
		"size":      humanSize,
		"pathID":    url.PathEscape,
		"imageURL":  safeImageURL,
		"remoteURL": remoteImageURL,
		"snippet":   snippetSegments,
		"oneLine":   oneLine,
		"tokens":    formatTokens,
		"host":      remoteHost,
	}).ParseFS(webFS, "web/templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("serve: templates: %w", err)
	}
	static, err := fs.Sub(webFS, "web/static")
	if err != nil {
		return nil, err
	}
	v := &viewer{store: store, pageSize: pageSize, msgPage: messagesPerPage, poll: time.Second,
		streams: make(chan struct{}, DefaultMaxLive), log: log, tmpl: tmpl, mux: http.NewServeMux(), now: time.Now}
	v.mux.HandleFunc("GET /{$}", v.list)
	v.mux.HandleFunc("GET /s/{id...}", v.conversation)
	v.mux.HandleFunc("GET /m/{id...}", v.fullMessage)
	v.mux.HandleFunc("GET /older/{id...}", v.older)
	v.mux.HandleFunc("GET /usage/{id...}", v.usage)
	v.mux.HandleFunc("GET /events/{id...}", v.events)
	v.mux.HandleFunc("GET /static/code.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		_, _ = io.WriteString(w, codeCSS)
	})
	v.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	v.mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		v.fail(w, r, http.StatusNotFound, "no such page")
	})
	return v, nil
}

// ServeHTTP serves GET and HEAD only, with security headers on every
// answer.
func (v *viewer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed: the viewer is read-only", http.StatusMethodNotAllowed)
		return
	}
	v.mux.ServeHTTP(w, r)
}

// pageHead is what the top of every page needs: its title and the search
// box, which keeps the query and the scope of the page it is on.
type pageHead struct {
	Title string
	Query string
	// Owner or SessionID scope the search box: on an owner's list it
	// searches that owner, on a conversation that session.
	Owner     string
	SessionID string
}

// listPage is the data of the list template.
type listPage struct {
	Head   pageHead
	Query  string
	Filter listFilter
	// Bad names sessions the list could not read (a corrupt stored row);
	// the others are listed.
	Bad      []string
	Sessions []session.Info
	NextURL  string
	First    bool
	// FirstURL is the first page with the same filters.
	FirstURL string
	Hits     []hitView
	Searched bool
	// MoreURL shows more of the best matches; Capped says the search
	// stopped at session.MaxListLimit matches.
	MoreURL string
	Capped  bool
}

// listFilter is the session list's filter, as the form and the query
// string give it: the flags of convo ls, with the same meanings.
type listFilter struct {
	Owner, Since, Until, Prefix string
}

// values returns the filter as query parameters.
func (f listFilter) values() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"owner": f.Owner, "since": f.Since, "until": f.Until, "prefix": f.Prefix} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// Active reports whether any filter is set.
func (f listFilter) Active() bool { return f != listFilter{} }

// hitView is a search hit with its session's title.
type hitView struct {
	session.SearchHit
	Title string
}

func (v *viewer) list(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	p := listPage{Query: strings.TrimSpace(q.Get("q")),
		Filter: listFilter{Owner: q.Get("owner"), Since: q.Get("since"), Until: q.Get("until"), Prefix: q.Get("prefix")}}
	scopeSession := q.Get("session")
	p.Head = pageHead{Title: "Sessions", Query: p.Query, Owner: p.Filter.Owner, SessionID: scopeSession}
	if p.Filter.Owner != "" {
		p.Head.Title = "Sessions of " + p.Filter.Owner
	}
	if len(p.Query) > maxQueryBytes {
		v.fail(w, r, http.StatusBadRequest, fmt.Sprintf("search text too long: at most %d bytes", maxQueryBytes))
		return
	}
	if p.Query != "" {
		v.search(w, r, p, scopeSession)
		return
	}
	lq, err := p.Filter.query(v.now())
	if err != nil {
		v.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	lq.Cursor, lq.Limit = q.Get("cursor"), v.pageSize
	p.First = lq.Cursor == ""
	page, bad, err := listSurvivingBadRows(ctx, v.store, lq)
	if err != nil {
		if lq.Cursor != "" && !errors.Is(err, session.ErrNotSupported) && !errors.Is(err, context.DeadlineExceeded) {
			v.fail(w, r, http.StatusBadRequest, "bad page cursor")
			return
		}
		v.storeError(w, r, err)
		return
	}
	for _, b := range bad {
		fmt.Fprintf(v.log, "convo serve: list: %v\n", b)
		p.Bad = append(p.Bad, b.Error())
	}
	p.Sessions = page.Sessions
	fq := p.Filter.values()
	p.FirstURL = "/?" + fq.Encode()
	if page.Next != "" {
		fq.Set("cursor", page.Next)
		p.NextURL = "/?" + fq.Encode()
	}
	v.render(w, "list.html", p)
}

// query returns the ListQuery of the filter, with times read as convo ls
// reads --since and --until (a time or a duration before now).
func (f listFilter) query(now time.Time) (session.ListQuery, error) {
	lq := session.ListQuery{Owner: f.Owner, IDPrefix: f.Prefix}
	after, err := parseTime(f.Since, now)
	if err != nil {
		return lq, fmt.Errorf("since: %w", err)
	}
	before, err := parseTime(f.Until, now)
	if err != nil {
		return lq, fmt.Errorf("until: %w", err)
	}
	if !after.IsZero() {
		lq.UpdatedAfter = after.UnixNano()
	}
	if !before.IsZero() {
		lq.UpdatedBefore = before.UnixNano()
	}
	return lq, nil
}

// search answers a search, scoped to p's owner filter or to a session.
func (v *viewer) search(w http.ResponseWriter, r *http.Request, p listPage, scopeSession string) {
	ctx := r.Context()
	q := r.URL.Query()
	p.Searched = true
	p.Head.Title = "Search: " + p.Query
	if scopeSession != "" {
		if err := session.ValidateID(scopeSession); err != nil {
			v.storeError(w, r, err)
			return
		}
	}
	// The best limit matches, a page (--page-size) at first; "More
	// matches" asks again for a page more, up to MaxListLimit. One match
	// more than shown is asked for, to know whether there are others.
	limit := v.pageSize
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > session.MaxListLimit {
			v.fail(w, r, http.StatusBadRequest, fmt.Sprintf("bad limit: want a number from 1 to %d", session.MaxListLimit))
			return
		}
		limit = n
	}
	hits, err := session.Search(ctx, v.store, session.SearchQuery{Text: p.Query, Owner: p.Filter.Owner,
		SessionID: scopeSession, Limit: min(limit+1, session.MaxListLimit)})
	if err != nil {
		v.storeError(w, r, err)
		return
	}
	switch {
	case len(hits) > limit:
		hits = hits[:limit]
		mq := url.Values{"q": {p.Query}, "limit": {strconv.Itoa(min(limit+v.pageSize, session.MaxListLimit))}}
		if p.Filter.Owner != "" {
			mq.Set("owner", p.Filter.Owner)
		}
		if scopeSession != "" {
			mq.Set("session", scopeSession)
		}
		p.MoreURL = "/?" + mq.Encode()
	case len(hits) == session.MaxListLimit:
		p.Capped = true
	}
	// Each hit shows its session's title: one Info per session of the
	// page.
	titles := map[string]string{}
	d, describes := v.store.(session.Describer)
	for _, h := range hits {
		t, seen := titles[h.SessionID]
		if !seen && describes {
			if info, err := d.Info(ctx, h.SessionID); err == nil {
				t = info.Title
			} else if errors.Is(err, context.DeadlineExceeded) {
				v.storeError(w, r, err)
				return
			}
			titles[h.SessionID] = t
		}
		p.Hits = append(p.Hits, hitView{SearchHit: h, Title: t})
	}
	v.render(w, "list.html", p)
}

// storeError answers with the status that err calls for.
func (v *viewer) storeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, session.ErrNotFound):
		v.fail(w, r, http.StatusNotFound, "no such session")
	case errors.Is(err, session.ErrInvalidID):
		v.fail(w, r, http.StatusBadRequest, "invalid session id")
	case errors.Is(err, session.ErrNotSupported):
		v.fail(w, r, http.StatusNotImplemented, "this store cannot do that: "+err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(v.log, "convo serve: %s %s: %v\n", r.Method, r.URL.Path, err)
		v.fail(w, r, http.StatusServiceUnavailable, fmt.Sprintf("this request took longer than the viewer allows (%s); narrow the search or the page", requestTimeout))
	default:
		fmt.Fprintf(v.log, "convo serve: %s %s: %v\n", r.Method, r.URL.Path, err)
		v.fail(w, r, http.StatusInternalServerError, "internal error (see the server log)")
	}
}

func (v *viewer) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = v.tmpl.ExecuteTemplate(w, "error.html", struct {
		Head   pageHead
		Status int
		Text   string
		Msg    string
	}{pageHead{Title: http.StatusText(status)}, status, http.StatusText(status), msg})
}

func (v *viewer) render(w http.ResponseWriter, name string, data any) {
	var buf strings.Builder
	if err := v.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		fmt.Fprintf(v.log, "convo serve: render %s: %v\n", name, err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = io.WriteString(w, buf.String())
}

// dataImage matches the data: URLs the viewer shows as images.
var dataImage = regexp.MustCompile(`^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]*={0,2}$`)

// safeImageURL returns u for an <img src>: http(s) URLs as plain strings
// (html/template checks and escapes them), and data: URLs of raster images
// that are well-formed base64 as template.URL. Anything else gives "".
func safeImageURL(u string) any {
	switch {
	case dataImage.MatchString(u):
		return template.URL(u) // checked above: an image MIME type and base64 only
	case strings.HasPrefix(strings.ToLower(u), "https://"), strings.HasPrefix(strings.ToLower(u), "http://"):
		return u
	}
	return ""
}

// segment is a piece of a search snippet, highlighted or not.
type segment struct {
	Text string
	Mark bool
}

// snippetSegments splits a snippet at its highlight markers. The template
// escapes each segment's text and wraps the marked ones in <mark>.
func snippetSegments(s string) []segment {
	var out []segment
	mark := false
	for s != "" {
		delim := session.HighlightStart
		if mark {
			delim = session.HighlightEnd
		}
		i := strings.Index(s, delim)
		if i < 0 {
			out = append(out, segment{Text: s, Mark: mark})
			break
		}
		if i > 0 {
			out = append(out, segment{Text: s[:i], Mark: mark})
		}
		s = s[i+len(delim):]
		mark = !mark
	}
	return out
}

// DefaultMaxLive is how many live conversation streams (server-sent
// events on /events) a viewer serves at once unless --max-live says
// otherwise; each holds a connection and a store watch or poll loop.
const DefaultMaxLive = 64

// liveRetryAfter is the Retry-After, in seconds, of a live stream refused
// because maxLive streams are open; the page's script waits about as long
// before it tries again.
const liveRetryAfter = 15

// setMaxLive sets how many live streams the viewer serves at once.
func (v *viewer) setMaxLive(n int) { v.streams = make(chan struct{}, n) }
