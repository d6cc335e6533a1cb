package main

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/convo-dev/convo/postgres"
	"github.com/convo-dev/convo/sqlite"
)

// upgradeResult is what upgrade reports.
type upgradeResult struct {
	Upgraded      bool          `json:"upgraded"`
	Sessions      int           `json:"sessions"`
	Messages      int           `json:"messages"`
	Unconverted   []unconverted `json:"unconverted"`
	AddedSessions []string      `json:"added_sessions"`
	SchemaVersion int           `json:"schema_version"`
}

type unconverted struct {
	SessionID string `json:"session_id"`
	Row       string `json:"row"`
	Seq       int64  `json:"seq"`
	Error     string `json:"error"`
}

// newUpgradeResult is what upgrade reports of rep (the same type for both
// stores).
func newUpgradeResult(rep sqlite.UpgradeReport) upgradeResult {
	res := upgradeResult{Upgraded: rep.Upgraded, Sessions: rep.Sessions, Messages: rep.Messages, AddedSessions: rep.AddedSessions}
	for _, u := range rep.Unconverted {
		res.Unconverted = append(res.Unconverted, unconverted{u.SessionID, u.Row, u.Seq, u.Err.Error()})
	}
	return res
}

func (a *app) upgradeCommand() *cobra.Command {
	var schema string
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Upgrade a database written by github.com/joakimcarlsson/ai, or an older convo schema, in place (writes)",
		Long: `upgrade converts, in place, the session tables that the memory/sqlite or
memory/postgres store of github.com/joakimcarlsson/ai wrote (with --prefix if
they were made with WithTablePrefix; for PostgreSQL with --schema if they are
in another schema than the connection's first) to convo's schema, and brings
an older convo schema up to date. This command writes to the database.

Every session and message is kept, in order, with its role, parts, model
and time converted; a row that cannot be converted is moved to the
quarantine table with its bytes and listed. The upgrade is one transaction:
interrupted, it leaves the old tables as they were, and running it again
starts over. The program that wrote the old tables cannot read them
afterwards. See docs/cli.md, "Moving from joakimcarlsson/ai".`,
		Example: `  convo upgrade --db app.db
  convo upgrade --db app.db --prefix chat_
  convo upgrade --db postgres://localhost/app --schema chat`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if a.db == "" {
				return errors.New("no database: pass --db or set CONVO_DB")
			}
			kind, dsn, err := parseDB(a.db)
			if err != nil {
				return err
			}
			var res upgradeResult
			switch kind {
			case "postgres":
				pool, err := pgxpool.New(ctx, dsn)
				if err != nil {
					return fmt.Errorf("upgrade: %w", err)
				}
				defer pool.Close()
				var opts []postgres.Option
				if a.prefix != "" {
					opts = append(opts, postgres.WithTablePrefix(a.prefix))
				}
				if schema != "" {
					opts = append(opts, postgres.WithSchema(schema))
				}
				rep, err := postgres.Upgrade(ctx, pool, opts...)
				if err != nil {
					return fmt.Errorf("upgrade: %w", err)
				}
				res = newUpgradeResult(rep)
				st, err := postgres.Open(ctx, pool, opts...)
				if err != nil {
					return fmt.Errorf("upgrade: %w", err)
				}
				if res.SchemaVersion, err = st.SchemaVersion(ctx); err != nil {
					return fmt.Errorf("upgrade: %w", err)
				}
			default:
				if schema != "" {
					return errors.New("upgrade: --schema is for PostgreSQL")
				}
				path, query, _ := strings.Cut(dsn, "?")
				if query == "" {
					dsn = path + "?" + sqliteDefaultQuery // Upgrade switches to WAL itself, after converting
				}
				if _, err := os.Stat(strings.TrimPrefix(path, "file:")); err != nil {
					return fmt.Errorf("upgrade: %w", err) // upgrade makes no new file
				}
				db, err := sql.Open("sqlite", dsn)
				if err != nil {
					return fmt.Errorf("upgrade: %w", err)
				}
				defer db.Close()
				var opts []sqlite.Option
				if a.prefix != "" {
					opts = append(opts, sqlite.WithTablePrefix(a.prefix))
				}
				rep, err := sqlite.Upgrade(ctx, db, opts...)
				if err != nil {
					return fmt.Errorf("upgrade: %w", err)
				}
				res = newUpgradeResult(rep)
				st, err := sqlite.Open(ctx, db, opts...)
				if err != nil {
					return fmt.Errorf("upgrade: %w", err)
				}
				defer st.Close()
				if res.SchemaVersion, err = st.SchemaVersion(ctx); err != nil {
					return fmt.Errorf("upgrade: %w", err)
				}
			}
			if res.Unconverted == nil {
				res.Unconverted = []unconverted{}
			}
			if res.AddedSessions == nil {
				res.AddedSessions = []string{}
			}
			if a.asJSON {
				return writeJSON(a.stdout, res)
			}
			if !res.Upgraded {
				fmt.Fprintf(a.stdout, "nothing to convert; schema version %d\n", res.SchemaVersion)
				return nil
			}
			fmt.Fprintf(a.stdout, "upgraded %s and %s; schema version %d\n", plural(res.Sessions, "session", "sessions"), plural(res.Messages, "message", "messages"), res.SchemaVersion)
			for _, id := range res.AddedSessions {
				fmt.Fprintf(a.stdout, "session %s: had messages but no session row; created\n", id)
			}
			for _, u := range res.Unconverted {
				fmt.Fprintf(a.stdout, "session %s, row %s (seq %d): not converted, moved to quarantine: %s\n", u.SessionID, u.Row, u.Seq, u.Error)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&schema, "schema", "", "PostgreSQL schema holding the tables (default: the connection's search_path)")
	a.addJSONFlag(cmd)
	return cmd
}
