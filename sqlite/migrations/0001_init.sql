-- convo SQLite schema, version 1.
-- {{sessions}}, {{messages}} and {{prefix}} are replaced by the quoted table
-- names and the raw (validated) prefix before this runs.
CREATE TABLE {{sessions}} (
    id            TEXT    NOT NULL PRIMARY KEY,
    owner         TEXT    NOT NULL DEFAULT '',
    title         TEXT    NOT NULL DEFAULT '',
    metadata      TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    version       INTEGER NOT NULL DEFAULT 0,
    next_seq      INTEGER NOT NULL DEFAULT 1,
    message_count INTEGER NOT NULL DEFAULT 0,
    incarnation   INTEGER NOT NULL
);
CREATE INDEX "{{prefix}}sessions_updated" ON {{sessions}} (updated_at DESC, id DESC);
CREATE INDEX "{{prefix}}sessions_owner_updated" ON {{sessions}} (owner, updated_at DESC, id DESC);
CREATE TABLE {{messages}} (
    session_id TEXT    NOT NULL REFERENCES {{sessions}} (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    id         TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    parts      TEXT    NOT NULL,
    model      TEXT    NOT NULL DEFAULT '',
    usage      TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (session_id, seq),
    UNIQUE (session_id, id)
);
