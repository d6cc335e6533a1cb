-- convo PostgreSQL schema, version 4: forks (session.Forker).
-- A fork is a session like any other, whose messages were copied from its
-- parent when it was made; these columns only record where it came from
-- (session.Info.ParentID and ForkMessageID), and nothing depends on the
-- parent still existing. '' for a session that is not a fork. Adding a
-- column with a constant default rewrites no row (PostgreSQL 11 and later).
ALTER TABLE {{sessions}} ADD COLUMN parent_id text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE {{sessions}} ADD COLUMN fork_message_id text COLLATE "C" NOT NULL DEFAULT '';
