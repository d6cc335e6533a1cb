-- convo PostgreSQL schema, version 7: the feed's NOTIFY moves from a
-- trigger to the writer.
--
-- Version 6 fired a per-statement PL/pgSQL trigger on every insert into
-- changes, which looked for a registered listener (feed_listeners) on
-- every append: about a tenth of an append's time on the server
-- (docs/performance.md). The store now sends the same NOTIFY, on the same
-- channel (convo_feed_<the oid of changes>), from the write itself, in the
-- same transaction, and only when a notification is due: at most one per
-- 50 ms per store (a Store value, in Go), and then only while a listener
-- is registered and no other writer of the table is notifying (the same
-- listener check and advisory lock as the trigger's; feedNotify in
-- queries.go). Every other append does no feed work beyond its row in
-- changes and its session's advisory lock (see 0006_changes.sql).
--
-- A convo of schema version 6 refuses to open a database at version 7
-- (ErrSchemaTooNew), so no writer remains that relies on the trigger.
DROP TRIGGER IF EXISTS "{{prefix}}changes_notify" ON {{changes}};
DROP FUNCTION IF EXISTS {{feed_notify}}();
