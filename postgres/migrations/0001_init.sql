-- convo PostgreSQL schema, version 1.
-- {{sessions}} and {{messages}} are replaced by the (schema-qualified) quoted
-- table names and {{prefix}} by the raw, validated table prefix before this
-- runs. Index and constraint names are not schema-qualified (they live in
-- their table's schema) and add at most 20 bytes to the prefix, so that they
-- stay within PostgreSQL's 63-byte identifiers.
CREATE TABLE {{sessions}} (
    id            text COLLATE "C" NOT NULL,
    owner         text COLLATE "C" NOT NULL DEFAULT '',
    title         text NOT NULL DEFAULT '',
    metadata      json,
    created_at    bigint NOT NULL,
    updated_at    bigint NOT NULL,
    version       bigint NOT NULL DEFAULT 0,
    next_seq      bigint NOT NULL DEFAULT 1,
    message_count bigint NOT NULL DEFAULT 0,
    incarnation   bigint NOT NULL,
    CONSTRAINT "{{prefix}}sessions_pkey" PRIMARY KEY (id)
);
CREATE INDEX "{{prefix}}sessions_by_update" ON {{sessions}} (updated_at DESC, id DESC);
CREATE INDEX "{{prefix}}sessions_by_owner" ON {{sessions}} (owner, updated_at DESC, id DESC);
CREATE TABLE {{messages}} (
    session_id text COLLATE "C" NOT NULL,
    seq        bigint NOT NULL,
    id         text COLLATE "C" NOT NULL,
    role       text NOT NULL,
    parts      json NOT NULL,
    model      text NOT NULL DEFAULT '',
    usage      json,
    created_at bigint NOT NULL,
    tsv        tsvector NOT NULL,
    CONSTRAINT "{{prefix}}messages_pkey" PRIMARY KEY (session_id, seq),
    CONSTRAINT "{{prefix}}messages_msg_id" UNIQUE (session_id, id),
    CONSTRAINT "{{prefix}}messages_session_fk" FOREIGN KEY (session_id)
        REFERENCES {{sessions}} (id) ON DELETE CASCADE
);
CREATE INDEX "{{prefix}}messages_tsv" ON {{messages}} USING gin (tsv);
