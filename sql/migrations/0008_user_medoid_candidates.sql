-- Each medoid's nearest pins in the version's HNSW partition, found with the medoids at
-- materialization, so that a request reads them instead of searching (sql/medoids.py); medoids
-- stored before this column have none, and their requests search from the medoids as before.
ALTER TABLE user_medoids ADD COLUMN candidate_pin_ids bigint[] NOT NULL DEFAULT '{}';
