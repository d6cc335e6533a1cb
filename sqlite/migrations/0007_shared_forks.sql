-- convo SQLite schema, version 7: a fork shares its parent's message bytes.
--
-- A row whose src is NULL holds its message's parts. A row made by Fork
-- holds the message's other columns (id, role, model, usage, created_at)
-- and parts '' (the column is NOT NULL since version 1), and src names the
-- session whose row with the same seq holds the parts: Fork keeps every
-- inherited message's seq, and src always names a row that holds its own
-- parts (a fork of a fork refers to the same row as its parent), so there
-- is never a chain. Reads take the parts from that row; a row of a session
-- that is not a fork pays for the test of src alone.
--
-- The rows of version 6 forks keep the copies they were made with.
ALTER TABLE {{messages}} ADD COLUMN src TEXT;

-- The rows that refer to a row, found by an index probe; appended rows
-- (src NULL) are not in it.
CREATE INDEX "{{prefix}}messages_src" ON {{messages}} (src, seq) WHERE src IS NOT NULL;

-- A row that others refer to hands its parts on before it goes: the first
-- referrer (by session id) receives them, and the others refer to it. The
-- parts are read from the row itself (not old.parts), so that deleting a
-- row nobody refers to does not load its parts for the trigger.
--
-- The store deletes no referrer in the same statement as the row it refers
-- to (bulk deletes remove fork rows first): SQLite leaves undefined the
-- outcome of a statement whose BEFORE trigger changes a row that the same
-- statement then deletes (https://sqlite.org/lang_createtrigger.html,
-- "Cautions On The Use Of BEFORE triggers").
CREATE TRIGGER "{{prefix}}messages_share_bd" BEFORE DELETE ON {{messages}}
WHEN old.src IS NULL AND EXISTS (SELECT 1 FROM {{messages}} WHERE src = old.session_id AND seq = old.seq)
BEGIN
    UPDATE {{messages}} SET src = (SELECT min(session_id) FROM {{messages}} WHERE src = old.session_id AND seq = old.seq)
        WHERE src = old.session_id AND seq = old.seq
        AND session_id > (SELECT min(session_id) FROM {{messages}} WHERE src = old.session_id AND seq = old.seq);
    UPDATE {{messages}} SET parts = (SELECT parts FROM {{messages}} WHERE rowid = old.rowid), src = NULL
        WHERE src = old.session_id AND seq = old.seq;
END;

-- The same when a row's parts are changed in place (the store never does
-- this; another program may): the forks keep the parts they inherited.
CREATE TRIGGER "{{prefix}}messages_share_bu" BEFORE UPDATE OF parts ON {{messages}}
WHEN old.src IS NULL AND EXISTS (SELECT 1 FROM {{messages}} WHERE src = old.session_id AND seq = old.seq)
BEGIN
    UPDATE {{messages}} SET src = (SELECT min(session_id) FROM {{messages}} WHERE src = old.session_id AND seq = old.seq)
        WHERE src = old.session_id AND seq = old.seq
        AND session_id > (SELECT min(session_id) FROM {{messages}} WHERE src = old.session_id AND seq = old.seq);
    UPDATE {{messages}} SET parts = old.parts, src = NULL
        WHERE src = old.session_id AND seq = old.seq;
END;

-- A referring row whose parts are written in place holds them from then on.
CREATE TRIGGER "{{prefix}}messages_share_au" AFTER UPDATE OF parts ON {{messages}}
WHEN old.src IS NOT NULL AND new.src IS NOT NULL
BEGIN
    UPDATE {{messages}} SET src = NULL WHERE rowid = new.rowid;
END;
