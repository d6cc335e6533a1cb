-- convo PostgreSQL schema, version 6: the change feed (session.Watcher).
-- One row per committed change to a session, written in the transaction
-- that makes the change: what Watch reads.
--
-- Order. A sequence alone cannot be the cursor: transactions take numbers
-- in one order and commit in another, so a reader that has seen number 11
-- may later see 10 commit. A row is ordered instead by (xid, id): the
-- transaction id of its writer, then a number in the order the
-- transaction wrote its rows. A reader takes only rows whose xid is below
-- every transaction of this database still running in its snapshot (and
-- below the next xid), so every row it will ever see later sorts after
-- every row it has seen. A transaction gets its xid at its first write,
-- and an UPDATE gets it before it waits for a row lock, so the row lock
-- alone does not order one session's writers by xid. Each write that
-- records a change of a session first takes an advisory lock on that
-- session, held to its commit (feedLock in queries.go; taking it assigns
-- no xid), so two writes to one session are in the same order by xid as
-- by commit.
--
-- An append, a replace or a fork's creation records the range of message
-- seqs it stored (first_seq..last_seq), not the messages; a remove records
-- the removed message ids. Rows are kept until Store.TrimFeed discards
-- them; feed_state holds the newest (xid, id) discarded, so that a watch
-- behind it gets session.ErrFeedGap.
--
-- A trigger sends a NOTIFY on the channel convo_feed_<the table's oid>
-- while some process listens: a wake-up for watches, never the source of
-- truth. A listening process keeps a row in feed_listeners whose
-- expires_at (database time, Unix ns) it moves on every few seconds.
-- NOTIFY takes a lock at commit that every notifying transaction of the
-- cluster shares, which costs concurrent writers their group commit. So
-- writers send nothing while nobody listens; a transaction notifies only
-- if it gets an advisory lock (held to its commit) that no other writer of
-- the table holds, so that at most one notifying commit is in flight and
-- the others commit together; and a connection sends at most one
-- notification per 50 ms per table (it remembers when, in the setting
-- convo.feed_<oid>). A watch woken by one reads the feed again 100 ms
-- later, which finds the changes whose notification was skipped.
CREATE TABLE {{changes}} (
    xid         bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    session_id  text COLLATE "C" NOT NULL,
    owner       text COLLATE "C" NOT NULL,
    incarnation bigint NOT NULL,
    kind        text NOT NULL,
    version     bigint NOT NULL,
    first_seq   bigint NOT NULL,
    last_seq    bigint NOT NULL,
    removed     text[],
    at          bigint NOT NULL,
    CONSTRAINT "{{prefix}}changes_pkey" PRIMARY KEY (xid, id)
);
CREATE TABLE {{feed_state}} (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    trimmed_xid bigint NOT NULL DEFAULT 0,
    trimmed_id  bigint NOT NULL DEFAULT 0
);
INSERT INTO {{feed_state}} DEFAULT VALUES;
CREATE TABLE {{feed_listeners}} (
    token      text PRIMARY KEY,
    expires_at bigint NOT NULL
);
CREATE FUNCTION {{feed_notify}}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    now_ms bigint := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    last   text := current_setting('convo.feed_' || TG_RELID::text, true);
BEGIN
    IF last IS NOT NULL AND last <> '' AND now_ms - last::bigint BETWEEN 0 AND 49 THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM {{feed_listeners}}
            WHERE expires_at > (extract(epoch FROM now()) * 1000000000)::bigint)
        AND pg_try_advisory_xact_lock(hashtext('convo_feed_' || TG_RELID::text)) THEN
        PERFORM pg_notify('convo_feed_' || TG_RELID::text, '');
        PERFORM set_config('convo.feed_' || TG_RELID::text, now_ms::text, false);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER "{{prefix}}changes_notify" AFTER INSERT ON {{changes}}
    FOR EACH STATEMENT EXECUTE FUNCTION {{feed_notify}}();
