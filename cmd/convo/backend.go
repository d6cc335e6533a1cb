package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"

	"github.com/convo-dev/convo/postgres"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// backend is an open store and what the CLI needs beside the session
// interfaces: its kind, schema versions and how to close it.
type backend struct {
	store session.Store
	// kind is "sqlite" or "postgres".
	kind string
	// where names the database for messages (the path, or the host).
	where         string
	schemaVersion func(ctx context.Context) (int, error)
	latestSchema  int
	close         func()
}

// sqliteDefaultQuery is added to a SQLite path that has no query string.
// It sets no journal mode: a store that may write switches the file to WAL
// itself, after it has checked that the tables are convo's (a pragma in the
// DSN would switch it on connecting, even when the open is refused), and a
// read-only store changes nothing.
const sqliteDefaultQuery = "_pragma=busy_timeout(10000)"

// parseDB splits a --db value into a backend kind and the driver's DSN.
func parseDB(url string) (kind, dsn string, err error) {
	switch {
	case url == "":
		return "", "", errors.New("empty database URL")
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return "postgres", url, nil
	case strings.HasPrefix(url, "sqlite:"):
		dsn = strings.TrimPrefix(url, "sqlite:")
		dsn = strings.TrimPrefix(dsn, "//") // sqlite:///abs/path
		if dsn == "" {
			return "", "", fmt.Errorf("database URL %q has no file path", url)
		}
		return "sqlite", dsn, checkSQLiteQuery(dsn)
	}
	// A URL scheme (letters, then "://" or ":" before any slash) that is not
	// ours is refused rather than taken for a file name.
	if i := strings.Index(url, ":"); i > 0 && !strings.ContainsAny(url[:i], `/\.`) && len(url[:i]) > 1 {
		return "", "", fmt.Errorf("unknown database scheme %q in %q (use sqlite:PATH, a file path, or postgres://...)", url[:i], url)
	}
	return "sqlite", url, checkSQLiteQuery(url)
}

// sqliteURIParams are the query parameters that SQLite itself reads, and
// only from a name that starts with "file:"; the driver drops them from a
// plain file name, so that "app.db?mode=ro" opens the file read-write.
var sqliteURIParams = []string{"mode", "cache", "immutable", "nolock", "psow", "modeof"}

// checkSQLiteQuery refuses a SQLite DSN that is a plain file name with one
// of SQLite's URI parameters, which would be silently ignored.
func checkSQLiteQuery(dsn string) error {
	if strings.HasPrefix(dsn, "file:") {
		return nil
	}
	_, query, ok := strings.Cut(dsn, "?")
	if !ok {
		return nil
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return nil // the driver reports a malformed query
	}
	for _, k := range sqliteURIParams {
		if values.Has(k) {
			return fmt.Errorf("SQLite reads %s= only from a file: name and would ignore it in %q; write sqlite:file:%s", k, dsn, dsn)
		}
	}
	return nil
}

// openBackend opens the store at url with the given table prefix. With
// mustExist, a SQLite file that does not exist is an error. With readOnly
// the store is opened read-only (sqlite.WithReadOnly, postgres.WithReadOnly):
// it creates, migrates and writes nothing.
func openBackend(ctx context.Context, url, prefix string, mustExist, readOnly bool) (*backend, error) {
	kind, dsn, err := parseDB(url)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "postgres":
		return openPostgres(ctx, dsn, prefix, readOnly)
	default:
		return openSQLite(ctx, dsn, prefix, mustExist || readOnly, readOnly)
	}
}

func openSQLite(ctx context.Context, dsn, prefix string, mustExist, readOnly bool) (*backend, error) {
	path, query, hasQuery := strings.Cut(dsn, "?")
	path = strings.TrimPrefix(path, "file:")
	if mustExist && path != ":memory:" {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sqlite database %s does not exist", path)
		}
	}
	if path != ":memory:" {
		// Say what is wrong with the path in the user's terms; SQLite would
		// answer "unable to open database file (14)" for all of these.
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			return nil, fmt.Errorf("%s is a directory, not a SQLite database file", path)
		}
		if dir := filepath.Dir(path); dir != "" {
			if st, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("cannot create SQLite database %s: directory %s does not exist", path, dir)
			} else if err == nil && !st.IsDir() {
				return nil, fmt.Errorf("cannot create SQLite database %s: %s is not a directory", path, dir)
			}
		}
	}
	if !hasQuery || query == "" {
		dsn = strings.TrimSuffix(dsn, "?") + "?" + sqliteDefaultQuery
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	var opts []sqlite.Option
	if prefix != "" {
		opts = append(opts, sqlite.WithTablePrefix(prefix))
	}
	if readOnly {
		opts = append(opts, sqlite.WithReadOnly())
	}
	st, err := sqlite.Open(ctx, db, opts...)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &backend{
		store:         st,
		kind:          "sqlite",
		where:         path,
		schemaVersion: st.SchemaVersion,
		latestSchema:  sqlite.LatestSchemaVersion(),
		close: func() {
			st.Close()
			db.Close()
		},
	}, nil
}

func openPostgres(ctx context.Context, dsn, prefix string, readOnly bool) (*backend, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres %s: %w", cfg.ConnConfig.Host, err)
	}
	var opts []postgres.Option
	if prefix != "" {
		opts = append(opts, postgres.WithTablePrefix(prefix))
	}
	if readOnly {
		opts = append(opts, postgres.WithReadOnly())
	}
	st, err := postgres.Open(ctx, pool, opts...)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	where := cfg.ConnConfig.Host + "/" + cfg.ConnConfig.Database
	if sp := cfg.ConnConfig.RuntimeParams["search_path"]; sp != "" {
		// The URL's search_path says which schema: two stores in one
		// database differ by it alone.
		where += " (search_path " + sp + ")"
	}
	return &backend{
		store:         st,
		kind:          "postgres",
		where:         where,
		schemaVersion: st.SchemaVersion,
		latestSchema:  postgres.LatestSchemaVersion(),
		close:         pool.Close,
	}, nil
}
