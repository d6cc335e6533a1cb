-- convo PostgreSQL schema, version 9: the change feed starts recording
-- when it is first watched.
--
-- Up to version 8 every write recorded its change in changes, whether or
-- not anything ever read the feed: a row, its index entry and the feed's
-- advisory lock in every append (3-8 % of an append, docs/performance.md).
-- From this version feed_state.active says whether writes record: false
-- in a new database, and set, once and for good, by Store.StartFeed, which
-- Watch calls. A write's statement reads it in its own snapshot, taken
-- after it has locked sessions; StartFeed sets it while holding sessions
-- in SHARE mode, which waits for every transaction writing sessions to
-- end and keeps new ones out until it commits, so each write either ended
-- before the feed started or sees it started and records (see StartFeed).
--
-- A database that already recorded changes, or discarded some (a consumer
-- may hold a cursor into it), keeps its feed active; so does one that a
-- watch of an earlier release is listening to (a live registration in
-- feed_listeners): that watch cannot start the feed and would silently
-- miss the writes of this release. (A read-only watch registers nothing.)
ALTER TABLE {{feed_state}} ADD COLUMN active boolean NOT NULL DEFAULT true;
UPDATE {{feed_state}} SET active = (EXISTS (SELECT 1 FROM {{changes}}) OR trimmed_xid > 0 OR trimmed_id > 0
    OR EXISTS (SELECT 1 FROM {{feed_listeners}} WHERE expires_at > (extract(epoch FROM now()) * 1000000000)::bigint));
