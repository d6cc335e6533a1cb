package main

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// tokenCookie carries the viewer's access token after the first visit with
// ?token=..., so that the links and assets of a page carry it too.
const tokenCookie = "convo_token"

// guard stands in front of the viewer. It answers only requests whose Host
// names this server, and, when the viewer has an access token, only
// requests that carry it.
//
// The Host check stops DNS rebinding: a web page on a name its owner
// controls re-points that name at 127.0.0.1 and then reads the viewer as a
// same-origin page, with the attacker's name in the Host header. An IP
// literal cannot be rebound, and "localhost" and names under ".localhost"
// resolve to loopback in browsers (RFC 6761 section 6.3), so those are
// allowed; any other name must be listed with --allow-host. This is the
// rule of Vite's server.allowedHosts ("by default, localhost and domains
// under .localhost and all IP addresses are allowed",
// https://vite.dev/config/server-options#server-allowedhosts).
type guard struct {
	next  http.Handler
	hosts map[string]bool // names allowed besides IPs and localhost, lower case
	token string          // "" when no token is required
	// timeout bounds each request (requestTimeout; tests shorten it).
	timeout time.Duration
}

// requestTimeout bounds the work of one viewer request: the store calls of
// a request run under a context that ends then, so no request (a costly
// search, a huge session) holds the store or the server for longer.
const requestTimeout = 30 * time.Second

// newGuard returns next behind the Host check and, when token is not empty,
// the token check.
func newGuard(next http.Handler, allowHosts []string, token string) *guard {
	g := &guard{next: next, hosts: map[string]bool{}, token: token, timeout: requestTimeout}
	for _, h := range allowHosts {
		g.hosts[normaliseHost(h)] = true
	}
	return g
}

// normaliseHost returns the host of a Host header value (or of a name),
// without port, brackets or trailing dot, in lower case.
func normaliseHost(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// hostAllowed reports whether a request's Host header names this server.
func (g *guard) hostAllowed(hostport string) bool {
	h := normaliseHost(hostport)
	switch {
	case h == "":
		return false
	case net.ParseIP(h) != nil, h == "localhost", strings.HasSuffix(h, ".localhost"):
		return true
	}
	return g.hosts[h]
}

// ServeHTTP checks the Host and the token, then serves the viewer.
func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.hostAllowed(r.Host) {
		http.Error(w, fmt.Sprintf("403 forbidden: host %q is not allowed; start convo serve with --allow-host %s to serve it",
			safeHeader(r.Host), safeHeader(normaliseHost(r.Host))), http.StatusForbidden)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.timeout)
	defer cancel()
	r = r.WithContext(ctx)
	if g.token == "" {
		g.next.ServeHTTP(w, r)
		return
	}
	if q := r.URL.Query(); q.Has("token") {
		if !g.tokenMatches(q.Get("token")) {
			http.Error(w, "401 unauthorized: wrong token", http.StatusUnauthorized)
			return
		}
		// Keep the token in a cookie and drop it from the address bar and
		// from the Referer of whatever the page links to.
		http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: g.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		q.Del("token")
		u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
		return
	}
	if !g.carriesToken(r) {
		http.Error(w, "401 unauthorized: this viewer needs its access token; open the address convo serve printed (it ends in ?token=...)", http.StatusUnauthorized)
		return
	}
	g.next.ServeHTTP(w, r)
}

// carriesToken reports whether r has the token in its cookie or in an
// Authorization: Bearer header (for scripts).
func (g *guard) carriesToken(r *http.Request) bool {
	if c, err := r.Cookie(tokenCookie); err == nil && g.tokenMatches(c.Value) {
		return true
	}
	auth := r.Header.Get("Authorization")
	if rest, ok := strings.CutPrefix(auth, "Bearer "); ok && g.tokenMatches(rest) {
		return true
	}
	return false
}

func (g *guard) tokenMatches(s string) bool {
	return subtle.ConstantTimeCompare([]byte(s), []byte(g.token)) == 1
}

// safeHeader keeps printable ASCII of a header value for an error message.
func safeHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// loopbackOnly reports whether addr (host:port) accepts connections from
// this machine only: a loopback IP, or localhost. An empty host, 0.0.0.0,
// :: and every other address are reachable from elsewhere.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
