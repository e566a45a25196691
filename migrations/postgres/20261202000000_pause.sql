-- The kill switch: one row. While `paused` is 1 no daemon on this store sends anything to the
-- cluster (`nightshift pause` / `nightshift resume`); `actor`, `reason` and `at` say who
-- switched it last, why and when. Every switch is also an audit row, written in the same
-- transaction. Keep this file in step with its SQLite twin.
CREATE TABLE pause (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    paused BIGINT  NOT NULL CHECK (paused IN (0, 1)),
    actor  TEXT    NOT NULL,
    reason TEXT    NOT NULL,
    at     BIGINT  NOT NULL
);
INSERT INTO pause (id, paused, actor, reason, at) VALUES (1, 0, '', '', 0);
