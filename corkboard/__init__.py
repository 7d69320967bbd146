"""corkboard's commands: the CLI, materialize, evaluate, tune, rollback and bench."""
