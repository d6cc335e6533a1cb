-- convo PostgreSQL schema, version 8: forks share their parent's message
-- bytes (session.Forker).
--
-- A fork copies only the headers of the rows it inherits (id, seq, role,
-- model, usage, created_at). Such a row has no parts and no search terms
-- (tsv) of its own: shared_from names the session whose row at the same
-- seq (and id) holds them, always the row that owns the bytes (a fork of a fork
-- points where its parent's row points), so a read takes one step at most.
-- A row either owns its bytes or borrows them: the CHECK says so; NOT VALID
-- because no row written before this version borrows (all own theirs).
--
-- The bytes go before their owner row does: whatever deletes owner rows
-- first copies their bytes into the rows that borrow them (the
-- hand-over). The store's own pops, clears and quarantines do it in their
-- statements; a deleted session does it in fork_handover, a trigger run
-- only for sessions whose lent is set (Fork sets it on the parent; a
-- session never forked pays nothing). The trigger runs AFTER the session
-- row is deleted but before the foreign key's cascade deletes the
-- messages: triggers of one kind run in the order of their names, and its
-- name ("Convo...") sorts before the foreign key's ("RI_ConstraintTrigger
-- ..."; PostgreSQL, CREATE TRIGGER: "If multiple triggers of the same
-- kind are defined for the same event, they will be fired in alphabetical
-- order by name"). At that point every session the statement deletes is
-- gone, so the bytes go only to forks that stay.
--
-- messages_shared_from finds the rows that borrow from a session; it is
-- partial, so it holds the borrowing rows only, and appends never touch
-- it. Building it reads the messages table once.
--
-- Citus: a borrowed row would live on another shard than its owner, so a
-- store opened WithCitus copies the bytes as before, and the trigger is
-- not made on distributed tables (Citus refuses triggers on them unless
-- citus.enable_unsafe_triggers is set); distributing the tables later
-- copies any borrowed bytes first (see distribute in citus.go).
ALTER TABLE {{messages}}
    ALTER COLUMN parts DROP NOT NULL,
    ALTER COLUMN tsv DROP NOT NULL,
    ADD COLUMN shared_from text COLLATE "C";
-- A statement of its own: Citus refuses ADD CONSTRAINT with other
-- subcommands on a distributed table.
ALTER TABLE {{messages}}
    ADD CONSTRAINT "{{prefix}}messages_owns_or_borrows"
        CHECK ((parts IS NULL) = (shared_from IS NOT NULL) AND (tsv IS NULL) = (shared_from IS NOT NULL)) NOT VALID;
ALTER TABLE {{sessions}} ADD COLUMN lent boolean NOT NULL DEFAULT false;
CREATE INDEX "{{prefix}}messages_shared_from" ON {{messages}} (shared_from, seq) WHERE shared_from IS NOT NULL;
CREATE FUNCTION {{fork_handover}}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {{messages}} f SET parts = p.parts, tsv = p.tsv, shared_from = NULL
    FROM {{messages}} p
    WHERE f.shared_from = OLD.id AND p.session_id = OLD.id AND p.seq = f.seq AND p.id = f.id
        AND EXISTS (SELECT 1 FROM {{sessions}} s WHERE s.id = f.session_id);
    RETURN NULL;
END
$$;
DO $do$
DECLARE
    distributed boolean := false;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1::regclass)'
            INTO distributed USING '{{sessions}}';
    END IF;
    IF NOT distributed THEN
        CREATE TRIGGER "Convo_fork_handover" AFTER DELETE ON {{sessions}}
            FOR EACH ROW WHEN (OLD.lent) EXECUTE FUNCTION {{fork_handover}}();
    END IF;
END
$do$;
