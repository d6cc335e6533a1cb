package encrypted_test

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"

	"github.com/convo-dev/convo/encrypted"
	"github.com/convo-dev/convo/internal/sqlident"
)

// TestKeyStores checks the KeyStore contract on every implementation:
// memory, SQLite and PostgreSQL (the SQL one with both placeholder styles).
func TestKeyStores(t *testing.T) {
	impls := map[string]func(t *testing.T) encrypted.KeyStore{
		"memory": func(t *testing.T) encrypted.KeyStore { return encrypted.NewMemoryKeyStore() },
		"sqlite": func(t *testing.T) encrypted.KeyStore {
			db := openSQLiteDB(t, filepath.Join(t.TempDir(), "keys.db"))
			ks, err := encrypted.OpenSQLKeyStore(t.Context(), db, encrypted.SQLKeyStoreConfig{Dialect: encrypted.SQLite, Table: "my_keys"})
			if err != nil {
				t.Fatal(err)
			}
			return ks
		},
		"postgres": func(t *testing.T) encrypted.KeyStore {
			_, db := pgShared(t)
			schema := newPGSchema(t)
			if _, err := db.ExecContext(t.Context(), `CREATE SCHEMA "`+schema+`"`); err != nil {
				t.Fatal(err)
			}
			ks, err := encrypted.OpenSQLKeyStore(t.Context(), db, encrypted.SQLKeyStoreConfig{Dialect: encrypted.PostgreSQL, Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			return ks
		},
	}
	for name, open := range impls {
		t.Run(name, func(t *testing.T) { testKeyStore(t, open(t)) })
	}
}

func testKeyStore(t *testing.T, ks encrypted.KeyStore) {
	ctx := t.Context()
	if _, err := ks.Latest(ctx, "owner:alice"); !errors.Is(err, encrypted.ErrKeyNotFound) {
		t.Errorf("Latest of an unknown id: %v, want ErrKeyNotFound", err)
	}
	if _, err := ks.Get(ctx, "owner:alice", 1); !errors.Is(err, encrypted.ErrKeyNotFound) {
		t.Errorf("Get of an unknown id: %v, want ErrKeyNotFound", err)
	}
	key := func(id string, v int64, kek string) encrypted.WrappedKey {
		return encrypted.WrappedKey{KeyID: id, Version: v, KEKID: kek, Wrapped: []byte(fmt.Sprintf("%s/%d/%s", id, v, kek)), CreatedAt: 1000 + v}
	}
	for _, k := range []encrypted.WrappedKey{key("owner:alice", 1, "k1"), key("owner:alice", 2, "k1"), key("owner:bob", 1, "k2"), key("session:s1", 1, "k1")} {
		if err := ks.Add(ctx, k); err != nil {
			t.Fatalf("Add(%s, %d): %v", k.KeyID, k.Version, err)
		}
	}
	if err := ks.Add(ctx, key("owner:alice", 2, "k9")); !errors.Is(err, encrypted.ErrKeyExists) {
		t.Errorf("Add of a taken version: %v, want ErrKeyExists", err)
	}
	if k, err := ks.Latest(ctx, "owner:alice"); err != nil || k.Version != 2 || k.KEKID != "k1" || string(k.Wrapped) != "owner:alice/2/k1" || k.CreatedAt != 1002 || k.Destroyed() {
		t.Errorf("Latest(alice) = %+v, %v", k, err)
	}

	// Rewrap is a compare-and-swap on the KEK id.
	if ok, err := ks.Rewrap(ctx, "owner:alice", 1, "k-other", "k3", []byte("x")); err != nil || ok {
		t.Errorf("Rewrap from the wrong KEK = %v, %v; want false", ok, err)
	}
	if ok, err := ks.Rewrap(ctx, "owner:alice", 1, "k1", "k3", []byte("new")); err != nil || !ok {
		t.Errorf("Rewrap = %v, %v; want true", ok, err)
	}
	if k, err := ks.Get(ctx, "owner:alice", 1); err != nil || k.KEKID != "k3" || string(k.Wrapped) != "new" {
		t.Errorf("Get after Rewrap = %+v, %v", k, err)
	}

	// Destroy up to a version keeps later ones, and keeps tombstones.
	if n, err := ks.Destroy(ctx, "owner:alice", 1); err != nil || n != 1 {
		t.Errorf("Destroy(alice, through 1) = %d, %v; want 1", n, err)
	}
	if k, err := ks.Get(ctx, "owner:alice", 1); err != nil || !k.Destroyed() || k.Wrapped != nil || k.KEKID != "" {
		t.Errorf("destroyed key = %+v, %v; want a tombstone without bytes", k, err)
	}
	if k, err := ks.Latest(ctx, "owner:alice"); err != nil || k.Version != 2 || k.Destroyed() {
		t.Errorf("Latest after destroying version 1 = %+v, %v; want live version 2", k, err)
	}
	if ok, err := ks.Rewrap(ctx, "owner:alice", 1, "", "k4", []byte("back")); err != nil || ok {
		t.Errorf("Rewrap of a destroyed key = %v, %v; want false", ok, err)
	}
	if n, err := ks.Destroy(ctx, "owner:alice", math.MaxInt64); err != nil || n != 1 {
		t.Errorf("Destroy(alice, all) = %d, %v; want 1 (version 1 was already destroyed)", n, err)
	}
	if n, err := ks.Destroy(ctx, "owner:nobody", math.MaxInt64); err != nil || n != 0 {
		t.Errorf("Destroy of an unknown id = %d, %v; want 0", n, err)
	}
	if k, err := ks.Latest(ctx, "owner:alice"); err != nil || k.Version != 2 || !k.Destroyed() {
		t.Errorf("Latest after destroying all = %+v, %v; want the destroyed version 2", k, err)
	}

	// List pages in (id, version) order.
	var got []string
	afterID, afterV := "", int64(0)
	for {
		page, err := ks.List(ctx, afterID, afterV, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 2 {
			t.Fatalf("List returned %d keys, limit 2", len(page))
		}
		for _, k := range page {
			got = append(got, fmt.Sprintf("%s/%d", k.KeyID, k.Version))
		}
		afterID, afterV = page[len(page)-1].KeyID, page[len(page)-1].Version
	}
	want := []string{"owner:alice/1", "owner:alice/2", "owner:bob/1", "session:s1/1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("List pages = %v, want %v", got, want)
	}

	ctxDone, cancel := contextCancelled(t)
	defer cancel()
	if err := ks.Add(ctxDone, key("owner:carol", 1, "k1")); err == nil {
		t.Error("Add with a cancelled context succeeded")
	}
	if _, err := ks.Latest(ctx, "owner:carol"); !errors.Is(err, encrypted.ErrKeyNotFound) {
		t.Errorf("a cancelled Add stored a key: %v", err)
	}
}

// TestOpenSQLKeyStore: opening is idempotent and safe from many goroutines
// at once (PostgreSQL's concurrent CREATE TABLE IF NOT EXISTS can fail
// without the advisory lock), a layout newer than this release is refused,
// and a table name that is not a plain identifier is refused before any
// SQL runs.
func TestOpenSQLKeyStore(t *testing.T) {
	cases := map[string]func(t *testing.T) (*sql.DB, encrypted.SQLKeyStoreConfig, string){
		"sqlite": func(t *testing.T) (*sql.DB, encrypted.SQLKeyStoreConfig, string) {
			db := openSQLiteDB(t, filepath.Join(t.TempDir(), "keys.db"))
			return db, encrypted.SQLKeyStoreConfig{Dialect: encrypted.SQLite}, `"convo_data_keys_version"`
		},
		"postgres": func(t *testing.T) (*sql.DB, encrypted.SQLKeyStoreConfig, string) {
			_, db := pgShared(t)
			schema := newPGSchema(t)
			if _, err := db.ExecContext(t.Context(), `CREATE SCHEMA "`+schema+`"`); err != nil {
				t.Fatal(err)
			}
			return db, encrypted.SQLKeyStoreConfig{Dialect: encrypted.PostgreSQL, Schema: schema}, `"` + schema + `"."convo_data_keys_version"`
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			db, cfg, verTable := setup(t)
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := encrypted.OpenSQLKeyStore(t.Context(), db, cfg); err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("concurrent OpenSQLKeyStore: %v", err)
			}
			var rows int
			if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM "+verTable).Scan(&rows); err != nil || rows != 1 {
				t.Errorf("version table holds %d rows (%v), want 1", rows, err)
			}
			if _, err := db.ExecContext(t.Context(), "UPDATE "+verTable+" SET version = 2"); err != nil {
				t.Fatal(err)
			}
			if _, err := encrypted.OpenSQLKeyStore(t.Context(), db, cfg); err == nil {
				t.Error("OpenSQLKeyStore accepted a table of a newer layout")
			}
			cfg.Table = `keys"; DROP TABLE x; --`
			if _, err := encrypted.OpenSQLKeyStore(t.Context(), db, cfg); !errors.Is(err, sqlident.ErrInvalid) {
				t.Errorf("OpenSQLKeyStore with a hostile table name: %v, want sqlident.ErrInvalid", err)
			}
		})
	}
}
