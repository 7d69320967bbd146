-- Model and index versions, and vectors served by pgvector's HNSW index.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE model_versions (
    version    serial PRIMARY KEY,
    kind       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    artifact   text NOT NULL,
    metrics    jsonb NOT NULL DEFAULT '{}',
    active     boolean NOT NULL DEFAULT false
);
-- At most one serving version per kind; activation swaps it in one transaction.
CREATE UNIQUE INDEX model_versions_one_active ON model_versions (kind) WHERE active;

-- One partition per embedding version, each with its own HNSW index (built before attach).
CREATE TABLE pin_embeddings (
    version   integer NOT NULL,
    pin_id    bigint NOT NULL,
    embedding vector(64) NOT NULL,
    PRIMARY KEY (version, pin_id)
) PARTITION BY LIST (version);
CREATE INDEX pin_embeddings_hnsw ON pin_embeddings USING hnsw (embedding vector_cosine_ops)
    WITH (m = 16, ef_construction = 64);

CREATE TABLE user_embeddings (
    version   integer NOT NULL,
    user_id   bigint NOT NULL,
    embedding vector(64) NOT NULL,
    PRIMARY KEY (version, user_id)
);
