-- convo SQLite schema, version 4: forks (session.Forker).
-- A fork is a session like any other, whose messages were copied from its
-- parent when it was made; these columns only record where it came from
-- (session.Info.ParentID and ForkMessageID), and nothing depends on the
-- parent still existing. '' for a session that is not a fork.
ALTER TABLE {{sessions}} ADD COLUMN parent_id TEXT NOT NULL DEFAULT '';
ALTER TABLE {{sessions}} ADD COLUMN fork_message_id TEXT NOT NULL DEFAULT '';
