"""corkboard: a Pinterest-style recommender stack (shared settings, database, sources, CLI)."""
