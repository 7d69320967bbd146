-- When each version last became the serving one; null for a version never served (a failed or
-- unfinished build), which rollback must never return to.
ALTER TABLE model_versions ADD COLUMN activated_at timestamptz;
-- Existing rows: only pin embeddings are registered before the step that indexes and activates
-- them, so a pin_embedding without its pgvector partition never served; every other row did.
UPDATE model_versions SET activated_at = created_at
WHERE active OR kind <> 'pin_embedding' OR to_regclass(format('pin_embeddings_v%s', version)) IS NOT NULL;
