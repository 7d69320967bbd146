-- Each user's PinnerSage medoids (the pins a home feed searches from) under one pin_embedding
-- version, computed at materialization; the newest engagement time and the number of engagements
-- they came from tell the service whether they still hold (sql/medoids.py).
CREATE TABLE user_medoids (
    version     integer NOT NULL,
    user_id     bigint NOT NULL,
    newest_ts   timestamptz NOT NULL,
    engagements integer NOT NULL,
    pin_ids     bigint[] NOT NULL,
    PRIMARY KEY (version, user_id)
);
