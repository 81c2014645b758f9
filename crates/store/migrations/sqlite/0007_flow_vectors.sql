-- Dense retrieval: one vector per flow, made from its title and symptoms
-- by a named sentence-embedding model. `flow_seq` is the flow's `seq` when
-- it was embedded: a flow edited since, or a vector from another model, is
-- pending. `seq` numbers stored vectors per account (from `vec_seq`), so a
-- search index catches up with just what was stored since it last looked.
-- Vectors are little-endian f32 bytes, searched in process.

ALTER TABLE accounts ADD COLUMN vec_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE flow_vectors (
    flow_id    BLOB PRIMARY KEY REFERENCES flows (id) ON DELETE CASCADE,
    account_id BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    model      TEXT NOT NULL,
    flow_seq   INTEGER NOT NULL,
    dims       INTEGER NOT NULL,
    vector     BLOB NOT NULL,
    seq        INTEGER NOT NULL
);
CREATE INDEX flow_vectors_by_seq ON flow_vectors (account_id, seq);
