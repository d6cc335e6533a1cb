-- convo SQLite schema, version 6: the change feed's table without
-- AUTOINCREMENT. AUTOINCREMENT made every change write sqlite_sequence as
-- well, a second page in the WAL of every append (BenchmarkAppendFeedCost,
-- synchronous=NORMAL: an append took a median 1.28 times as long as one
-- without the feed's record; 1.00 without AUTOINCREMENT). A plain INTEGER PRIMARY
-- KEY is one above the largest seq in the table, so seqs still only grow
-- as long as the newest row stays: when Store.TrimFeed discards every
-- change, it leaves a row of kind 'trimmed' at the newest seq it
-- discarded, which no watch delivers (it is never after a watch's
-- position: a watch behind it gets session.ErrFeedGap). The rows are kept,
-- with their seqs; so is the newest seq discarded, as such a row, if none
-- is left.
CREATE TABLE "{{prefix}}changes_v6" (
    seq         INTEGER PRIMARY KEY,
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
INSERT INTO "{{prefix}}changes_v6" SELECT seq, session_id, owner, incarnation, kind, version, first_seq, last_seq, removed, at
    FROM "{{prefix}}changes";
INSERT INTO "{{prefix}}changes_v6" (seq, session_id, owner, incarnation, kind, version, first_seq, last_seq, at)
    SELECT trimmed_to, '', '', 0, 'trimmed', 0, 0, -1, 0 FROM "{{prefix}}feed_state"
    WHERE trimmed_to > 0 AND NOT EXISTS (SELECT 1 FROM "{{prefix}}changes");
DROP TABLE "{{prefix}}changes";
ALTER TABLE "{{prefix}}changes_v6" RENAME TO "{{prefix}}changes";
