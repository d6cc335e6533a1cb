-- convo SQLite schema, version 8: the change feed starts recording when it
-- is first watched.
--
-- Up to version 7 every write recorded its change in changes, whether or
-- not anything ever read the feed: one page of the about 11 that an append
-- of a 4-message turn writes to the WAL (docs/performance.md, "Why the
-- store misses target (a)"). From this version feed_state.active says
-- whether writes record: 0 in a new database, and set, once and for good,
-- by Store.StartFeed, which Watch calls. A write reads it inside its own
-- write transaction, after it has taken SQLite's write lock; StartFeed
-- sets it in a write transaction of its own. SQLite runs one write
-- transaction at a time, and one reads what every transaction committed
-- before it began to write, so each write either committed before the
-- feed started or sees it started and records (see Store.StartFeed).
--
-- A database that already recorded changes, or discarded some (a 'trimmed'
-- marker row, or a trimmed position: a consumer may hold a cursor into
-- it), keeps its feed active.
ALTER TABLE "{{prefix}}feed_state" ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
UPDATE "{{prefix}}feed_state" SET active = (EXISTS (SELECT 1 FROM "{{prefix}}changes") OR trimmed_to > 0);
