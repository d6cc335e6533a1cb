// Command convo inspects, searches, moves and prunes the sessions of a convo
// store, and serves a read-only web viewer of them.
//
// # Usage
//
//	convo [--db URL] [--prefix PREFIX] COMMAND [flags]
//
// The database is --db or the CONVO_DB environment variable: sqlite:PATH or
// a plain file path for SQLite (opened with the pure-Go driver
// modernc.org/sqlite and, unless the path carries its own query string,
// ?_pragma=busy_timeout(10000)), or postgres://...
// / postgresql://... for PostgreSQL. Any other scheme is an error. --prefix
// is the store's table prefix.
//
// The commands that only look (ls, show, search, export, doctor without
// --repair, serve, and migrate's source) open the store read-only: they
// never create, migrate or change anything. import, rm, prune, doctor
// --repair, migrate's --to and upgrade write. upgrade converts a database
// written by github.com/joakimcarlsson/ai in place.
//
// # Commands
//
//	ls        sessions, newest activity first, paginated (--limit, --cursor),
//	          filtered by --owner, --id-prefix, --since, --until
//	show ID   a conversation as a person reads it
//	export    sessions as JSON Lines (all, or the ids given)
//	import    a JSON Lines export; validated whole before anything is written
//	rm        sessions by id, or everything an owner has (--owner)
//	prune     sessions idle for longer than --older-than (--dry-run)
//	doctor    tool-call pairing and schema check; --repair fixes damage
//	search    full-text search with highlighted snippets
//	migrate   copy every session to --to (resumable, verified by counts)
//	serve     the web viewer, on 127.0.0.1:8080 by default
//	upgrade   convert a github.com/joakimcarlsson/ai database in place
//	demo      write a sample store (fixed sessions, ids and times) to try it on
//	completion bash|zsh|fish|powershell
//	          a shell completion script (commands, flags, session ids, owners)
//
// Listing and report commands take --json; ls, search and show write a
// session in one JSON shape (docs/cli.md). Errors go to stderr with a
// non-zero exit status; a mistyped command or flag gets a suggestion.
// convo --version prints the module version and, for a binary built from
// a checkout, the VCS revision. Long work (import, export, migrate, doctor,
// prune) shows a progress bar when stderr is a terminal.
//
// On a terminal, ls and search print bold headers and show colours roles,
// unless NO_COLOR is set (https://no-color.org); into a pipe or a file
// there is no colour. Tables are aligned by display width, so CJK owners
// and titles keep the columns straight. show folds long lines at the
// terminal's width (else $COLUMNS, else 100), prints only the first 40
// lines of a text longer than 50 unless --full, prints the last N messages with --tail N, and on a
// terminal pages through $PAGER (less by default) when the output is
// taller than the screen. rm and prune ask before deleting when stdin is
// a terminal; otherwise they refuse without --yes.
//
// # Export format
//
// JSON Lines: a header {"type":"convo-export","version":1}, then for each
// session a line {"type":"session","id":...,"owner":...,"title":...,
// "metadata":{...},"created_at":UNIX_NANOS,"updated_at":UNIX_NANOS} (a fork
// also with "parent" and "fork_message_id") followed by one line per
// message, {"type":"message","session":ID,"message":MESSAGE}, with MESSAGE
// in the JSON of package message. docs/cli.md describes it in full.
//
// # Web viewer
//
// serve renders pages with html/template from templates, a stylesheet and a
// script (app.js) embedded in the binary; it serves GET and HEAD only, sends
// a Content-Security-Policy that allows only the viewer's own script and
// stylesheets (no inline script or style), and escapes every piece of
// message text (Markdown is rendered, then sanitised).
package main
