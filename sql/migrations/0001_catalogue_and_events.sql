-- Catalogue and the append-only event log (DESIGN.md section 3.1).
CREATE TABLE pins (
    pin_id          bigint PRIMARY KEY,
    creator_id      bigint NOT NULL,
    title           text NOT NULL,
    description     text NOT NULL,
    category        text NOT NULL,
    image_signature bigint NOT NULL,
    is_ad           boolean NOT NULL,
    merchant_id     bigint,
    created_at      timestamptz NOT NULL
);

CREATE TABLE users (
    user_id    bigint PRIMARY KEY,
    country    text NOT NULL,
    language   text NOT NULL,
    age_bucket text NOT NULL,
    signup_at  timestamptz NOT NULL
);

CREATE TABLE boards (
    board_id bigint PRIMARY KEY,
    user_id  bigint NOT NULL REFERENCES users,
    name     text NOT NULL
);

CREATE TABLE board_pins (
    board_id bigint NOT NULL REFERENCES boards,
    pin_id   bigint NOT NULL REFERENCES pins,
    saved_at timestamptz NOT NULL,
    PRIMARY KEY (board_id, pin_id)
);
CREATE INDEX board_pins_pin ON board_pins (pin_id);

-- Events carry no foreign keys: the loader validates them, and a day is replaced in bulk.
CREATE TABLE events (
    event_id bigint PRIMARY KEY,
    user_id  bigint NOT NULL,
    pin_id   bigint,
    action   text NOT NULL CHECK (action IN ('impression', 'click', 'save', 'long_click', 'hide', 'search')),
    surface  text NOT NULL CHECK (surface IN ('homefeed', 'related', 'search')),
    query    text,
    position integer,
    ts       timestamptz NOT NULL,
    day      date GENERATED ALWAYS AS ((ts AT TIME ZONE 'UTC')::date) STORED
);
CREATE INDEX events_day ON events (day);
CREATE INDEX events_user_ts ON events (user_id, ts DESC);
