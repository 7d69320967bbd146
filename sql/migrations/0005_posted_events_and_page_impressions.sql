-- Events posted to the service (POST /v1/events) and the impressions of the pages it served.
--
-- A posted event is stored once per client id (a retry conflicts and is skipped). Its id in the
-- events log comes from a descending identity: every source's event ids are 0 or more, so the
-- two never collide. The service writes each posted event to both tables in one statement, and a
-- load of a day puts the day's posted events back after replacing its file events
-- (sql.events.replace_days), so re-running a day neither loses nor repeats them.
CREATE TABLE posted_events (
    event_id        bigint GENERATED ALWAYS AS IDENTITY (START WITH -1 INCREMENT BY -1) PRIMARY KEY,
    client_event_id text NOT NULL UNIQUE,
    user_id         bigint NOT NULL,
    pin_id          bigint NOT NULL,
    action          text NOT NULL CHECK (action IN ('impression', 'click', 'save', 'long_click', 'hide')),
    surface         text NOT NULL CHECK (surface IN ('homefeed', 'related', 'search')),
    query           text,
    position        integer,
    ts              timestamptz NOT NULL,
    day             date GENERATED ALWAYS AS ((ts AT TIME ZONE 'UTC')::date) STORED,
    request_id      text,
    arm             text,
    posted_by       text NOT NULL,  -- the name of the API key
    received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX posted_events_day ON posted_events (day);
CREATE INDEX posted_events_request ON posted_events (request_id, pin_id) WHERE request_id IS NOT NULL;

-- One row per pin of a served page, written after the page is answered: a posted event joins
-- what was shown on (request_id, pin_id). The first page logged under a request id keeps it.
CREATE TABLE page_impressions (
    request_id text NOT NULL,
    position   integer NOT NULL,
    pin_id     bigint NOT NULL,
    surface    text NOT NULL,
    user_id    bigint,
    arm        text,
    served_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, position)
);
