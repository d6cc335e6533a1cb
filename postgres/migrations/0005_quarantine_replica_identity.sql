-- convo PostgreSQL schema, version 5: the quarantine table gets a replica
-- identity. It has no primary key, and a table without one cannot publish
-- its deletes to logical replication: a PostgreSQL publication of all
-- tables then fails every delete of a session that has quarantined rows,
-- and Citus refuses to move the shards of the sessions' colocation group
-- (citus_move_shard_placement, rebalancing: "cannot use logical
-- replication to transfer shards of the relation messages_quarantine since
-- it doesn't have a REPLICA IDENTITY or PRIMARY KEY"). FULL identifies a
-- row by all its columns; the table holds few rows and is rarely written.
ALTER TABLE {{quarantine}} REPLICA IDENTITY FULL;
