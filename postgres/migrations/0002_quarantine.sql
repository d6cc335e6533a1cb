-- convo PostgreSQL schema, version 2: a table for quarantined rows.
-- A message row that cannot be read (see session.Quarantiner), or a row of
-- an upgraded database that could not be converted, is moved here with its
-- bytes unchanged, so that its session is usable again and nothing is lost.
-- The rows of a session go with it when the session is deleted.
CREATE TABLE {{quarantine}} (
    session_id     text COLLATE "C" NOT NULL,
    seq            bigint NOT NULL,
    id             text COLLATE "C" NOT NULL,
    role           text NOT NULL,
    parts          bytea NOT NULL,
    model          text NOT NULL DEFAULT '',
    usage          bytea,
    created_at     bigint NOT NULL,
    quarantined_at bigint NOT NULL,
    reason         text NOT NULL,
    CONSTRAINT "{{prefix}}quarantine_session_fk" FOREIGN KEY (session_id)
        REFERENCES {{sessions}} (id) ON DELETE CASCADE
);
CREATE INDEX "{{prefix}}quarantine_by_session" ON {{quarantine}} (session_id, seq);
