-- Dense retrieval: one vector per flow, made from its title and symptoms
-- by a named sentence-embedding model. `flow_seq` is the flow's `seq` when
-- it was embedded: a flow edited since, or a vector from another model, is
-- pending. `seq` numbers stored vectors per account (from `vec_seq`), so a
-- search index catches up with just what was stored since it last looked.
-- Vectors are little-endian f32 bytes, searched in process (pgvector is
-- not something every PostgreSQL has; the in-process scan is fast enough,
-- see docs/performance.md).

ALTER TABLE accounts ADD COLUMN vec_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE flow_vectors (
    flow_id    UUID PRIMARY KEY REFERENCES flows (id) ON DELETE CASCADE,
    account_id UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    model      TEXT NOT NULL,
    flow_seq   BIGINT NOT NULL,
    dims       INTEGER NOT NULL,
    vector     BYTEA NOT NULL,
    seq        BIGINT NOT NULL
);
CREATE INDEX flow_vectors_by_seq ON flow_vectors (account_id, seq);
