-- convo SQLite schema, version 3: full-text indexing leaves the append path.
--
-- The index itself ({{prefix}}messages_search, an FTS5 table) is derived
-- data that the store creates, fills and drops from Go, where the SQLite
-- build has FTS5; the FTS5 table and triggers of version 1
-- ({{prefix}}messages_fts, kept by triggers on every insert) are replaced by
-- it the first time a build with FTS5 opens the database. These two plain
-- tables work in every build.
--
-- search_state holds one row: every message whose rowid is at most
-- indexed_to is in the index (unless listed in search_pending), and the
-- index was built by the rules of version rules of the store's text rules
-- (0: no index yet).
CREATE TABLE "{{prefix}}search_state" (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 0),
    indexed_to INTEGER NOT NULL DEFAULT 0,
    rules      INTEGER NOT NULL DEFAULT 0
);
INSERT INTO "{{prefix}}search_state" (id) VALUES (0);
-- search_pending lists messages at or below indexed_to whose parts were
-- changed in place since they were indexed: they are out of the index until
-- they are indexed again.
CREATE TABLE "{{prefix}}search_pending" (
    row INTEGER NOT NULL PRIMARY KEY
);
