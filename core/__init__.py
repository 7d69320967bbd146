"""The shared core below every other package: settings, the database engine factory, the event
schema (``World``) and the sources that produce worlds."""
