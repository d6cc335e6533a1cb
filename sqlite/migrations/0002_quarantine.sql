-- convo SQLite schema, version 2: a table for quarantined rows.
-- A message row that cannot be read (see session.Quarantiner), or a row of
-- an upgraded database that could not be converted, is moved here with its
-- bytes unchanged, so that its session is usable again and nothing is lost.
-- The rows of a session go with it when the session is deleted.
CREATE TABLE {{quarantine}} (
    session_id     TEXT    NOT NULL,
    seq            INTEGER NOT NULL,
    id             TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    parts          BLOB,
    model          TEXT    NOT NULL DEFAULT '',
    usage          BLOB,
    created_at     INTEGER NOT NULL,
    quarantined_at INTEGER NOT NULL,
    reason         TEXT    NOT NULL
);
CREATE INDEX "{{prefix}}messages_quarantine_session" ON {{quarantine}} (session_id, seq);
CREATE TRIGGER "{{prefix}}messages_quarantine_ad" AFTER DELETE ON {{sessions}} BEGIN
    DELETE FROM {{quarantine}} WHERE session_id = old.id;
END;
