"""SQL schema (ordered migrations) and the statements corkboard runs against Postgres."""
