-- convo SQLite schema, version 5: the change feed (session.Watcher).
-- One row per committed change to a session, written in the transaction
-- that makes the change: what Watch reads. seq is the feed's cursor:
-- AUTOINCREMENT never hands out a number twice, even after the newest rows
-- are deleted, and SQLite's single writer commits rows in seq order, so a
-- reader that has seen seq n has seen every change up to n.
-- An append, a replace or a fork's creation records the range of message
-- seqs it stored (first_seq..last_seq), not the messages; a remove records
-- the removed message ids (a JSON array). Rows are kept until
-- Store.TrimFeed discards them; feed_state.trimmed_to is the newest seq
-- discarded, so that a watch behind it gets session.ErrFeedGap.
CREATE TABLE "{{prefix}}changes" (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT    NOT NULL,
    owner       TEXT    NOT NULL,
    incarnation INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    first_seq   INTEGER NOT NULL,
    last_seq    INTEGER NOT NULL,
    removed     TEXT,
    at          INTEGER NOT NULL
);
CREATE TABLE "{{prefix}}feed_state" (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 0),
    trimmed_to INTEGER NOT NULL DEFAULT 0
);
INSERT INTO "{{prefix}}feed_state" (id) VALUES (0);
