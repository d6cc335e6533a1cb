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

// contentSecurityPolicy allows only the viewer's own stylesheet, no script
// at all (no inline script, none from data: or elsewhere), and images from
// the viewer, data: URLs it builds from binary parts, and http(s) image URLs
// that messages hold.
const contentSecurityPolicy = "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data: https: http:; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (a *app) serveCommand() *cobra.Command {
	var (
		addr       string
		pageSize   int
		token      string
		allowHosts []string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Browse sessions in a read-only web viewer",
		Long: `serve starts a read-only web viewer of the store on --addr (127.0.0.1:8080 by
default; it serves only GET and HEAD): a session list with paging and a
search box (best matches first, a page at a time, up to 1,000), and a
conversation view with each role in its own style, tool
calls beside their results, images inline and reasoning collapsed.

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
			v, err := newViewer(b.store, pageSize, a.stderr)
			if err != nil {
				return err
			}
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
	log      io.Writer
	tmpl     *template.Template
	mux      *http.ServeMux
}

// newViewer returns the viewer of store.
func newViewer(store session.Store, pageSize int, log io.Writer) (*viewer, error) {
	tmpl, err := template.New("").Funcs(template.FuncMap{
		"time":     formatTime,
		"size":     humanSize,
		"pathID":   url.PathEscape,
		"imageURL": safeImageURL,
		"snippet":  snippetSegments,
		"oneLine":  oneLine,
	}).ParseFS(webFS, "web/templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("serve: templates: %w", err)
	}
	static, err := fs.Sub(webFS, "web/static")
	if err != nil {
		return nil, err
	}
	v := &viewer{store: store, pageSize: pageSize, log: log, tmpl: tmpl, mux: http.NewServeMux()}
	v.mux.HandleFunc("GET /{$}", v.list)
	v.mux.HandleFunc("GET /s/{id...}", v.conversation)
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

// listPage is the data of the list template.
type listPage struct {
	Query    string
	Owner    string
	Sessions []session.Info
	Next     string
	NextURL  string
	First    bool
	Hits     []session.SearchHit
	Searched bool
	// MoreURL shows more of the best matches; Capped says the search
	// stopped at session.MaxListLimit matches.
	MoreURL string
	Capped  bool
	Error   string
}

func (v *viewer) list(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	p := listPage{Query: strings.TrimSpace(q.Get("q")), Owner: q.Get("owner")}
	if len(p.Query) > maxQueryBytes {
		v.fail(w, r, http.StatusBadRequest, fmt.Sprintf("search text too long: at most %d bytes", maxQueryBytes))
		return
	}
	if p.Query != "" {
		p.Searched = true
		// The best limit matches, a page (--page-size) at first; "More
		// matches" asks again for a page more, up to MaxListLimit. One
		// match more than shown is asked for, to know whether there are
		// others.
		limit := v.pageSize
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > session.MaxListLimit {
				v.fail(w, r, http.StatusBadRequest, fmt.Sprintf("bad limit: want a number from 1 to %d", session.MaxListLimit))
				return
			}
			limit = n
		}
		hits, err := session.Search(ctx, v.store, session.SearchQuery{Text: p.Query, Owner: p.Owner, Limit: min(limit+1, session.MaxListLimit)})
		if err != nil {
			v.storeError(w, r, err)
			return
		}
		switch {
		case len(hits) > limit:
			hits = hits[:limit]
			mq := url.Values{"q": {p.Query}, "limit": {strconv.Itoa(min(limit+v.pageSize, session.MaxListLimit))}}
			if p.Owner != "" {
				mq.Set("owner", p.Owner)
			}
			p.MoreURL = "/?" + mq.Encode()
		case len(hits) == session.MaxListLimit:
			p.Capped = true
		}
		p.Hits = hits
		v.render(w, "list.html", p)
		return
	}
	cursor := q.Get("cursor")
	p.First = cursor == ""
	page, err := session.List(ctx, v.store, session.ListQuery{Owner: p.Owner, Cursor: cursor, Limit: v.pageSize})
	if err != nil {
		if cursor != "" && !errors.Is(err, session.ErrNotSupported) {
			v.fail(w, r, http.StatusBadRequest, "bad page cursor")
			return
		}
		v.storeError(w, r, err)
		return
	}
	p.Sessions, p.Next = page.Sessions, page.Next
	if p.Next != "" {
		nq := url.Values{"cursor": {p.Next}}
		if p.Owner != "" {
			nq.Set("owner", p.Owner)
		}
		p.NextURL = "/?" + nq.Encode()
	}
	v.render(w, "list.html", p)
}

// convPage is the data of the conversation template.
type convPage struct {
	Info session.Info
	View convView
}

func (v *viewer) conversation(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	if err := session.ValidateID(id); err != nil {
		v.storeError(w, r, err)
		return
	}
	sess, err := v.store.Load(ctx, id)
	if err != nil {
		v.storeError(w, r, err)
		return
	}
	msgs, err := sess.GetMessages(ctx, nil)
	if err != nil {
		v.storeError(w, r, err)
		return
	}
	info := session.Info{ID: id, MessageCount: int64(len(msgs))}
	if d, ok := v.store.(session.Describer); ok {
		if info, err = d.Info(ctx, id); err != nil {
			v.storeError(w, r, err)
			return
		}
	}
	v.render(w, "conversation.html", convPage{Info: info, View: buildView(msgs)})
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
		Status int
		Text   string
		Msg    string
	}{status, http.StatusText(status), msg})
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
