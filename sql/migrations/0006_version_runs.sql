-- The Dagster run that built each version. A run publishes its versions inactive, and they become
-- the serving ones together, in one transaction, when the run has succeeded (sql/versions.py,
-- activate_run). Null for versions registered before, all of which were activated one by one.
ALTER TABLE model_versions ADD COLUMN run_id text;
CREATE INDEX model_versions_run ON model_versions (run_id) WHERE run_id IS NOT NULL;
