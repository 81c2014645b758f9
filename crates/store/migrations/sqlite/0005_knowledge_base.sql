-- The knowledge base beyond 0002: who wrote a flow last, and a version per
-- account that every flow write bumps, so that each instance's search
-- index can tell, with one cheap query, whether it is current, and catch
-- up with just what changed (flows by their `seq`, deletions by their
-- tombstone).

ALTER TABLE flows ADD COLUMN author_id BLOB;
ALTER TABLE flows ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX flows_by_seq ON flows (account_id, seq);

ALTER TABLE accounts ADD COLUMN kb_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE flow_tombstones (
    account_id BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    flow_id    BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (account_id, flow_id)
);
CREATE INDEX flow_tombstones_by_seq ON flow_tombstones (account_id, seq);
