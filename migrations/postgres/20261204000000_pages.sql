-- Pages to humans, one row a delivery (an event of an incident to one pager). The row is
-- written before anything is sent, so a page survives a crash: `pending` rows are sent (again)
-- by whichever daemon claims them. `intent` says which state change asked for the page, so the
-- same change never queues it twice. `status`: pending, delivered, failed (gave up or refused),
-- grouped (folded into a grouped page during a wide outage). `page` is the content as JSON.
-- `next_attempt_at` is when it may be tried (a claim moves it forward, as a lease).
-- Keep this file in step with its SQLite twin.
CREATE TABLE pages (
    id              BIGSERIAL PRIMARY KEY,
    incident_id     TEXT    NOT NULL REFERENCES incidents (id),
    pager           TEXT    NOT NULL,
    intent          TEXT    NOT NULL,
    event           TEXT    NOT NULL CHECK (event IN ('trigger', 'acknowledge', 'resolve')),
    dedup_key       TEXT    NOT NULL,
    page            TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'grouped')),
    attempts        BIGINT  NOT NULL,
    last_error      TEXT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    next_attempt_at BIGINT  NOT NULL,
    delivered_at    BIGINT,
    UNIQUE (incident_id, pager, intent)
);
CREATE INDEX pages_by_status ON pages (status, next_attempt_at);
CREATE INDEX pages_by_pager ON pages (pager, event, created_at);
