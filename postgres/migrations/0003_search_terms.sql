-- convo PostgreSQL schema, version 3: search terms from internal/searchtext.
-- Versions 1 and 2 filled messages.tsv with to_tsvector('simple', text); from
-- version 3 the store computes the terms in Go (NFKC, case folding,
-- diacritics, character pairs in scripts written without spaces) and casts
-- them to tsvector. The rows stored before are rewritten by the store when
-- it opens, in batches (reindex in search.go); this table records which
-- rules the index follows (0: the old ones) and how far the rewrite got.
-- It is created in the messages table's schema, with the table prefix.
CREATE TABLE {{search_index}} (
    singleton     boolean NOT NULL DEFAULT true CHECK (singleton),
    version       integer NOT NULL,
    after_session text COLLATE "C" NOT NULL,
    after_seq     bigint NOT NULL,
    CONSTRAINT "{{prefix}}search_index_pkey" PRIMARY KEY (singleton)
);
INSERT INTO {{search_index}} (version, after_session, after_seq) VALUES (0, '', 0);
