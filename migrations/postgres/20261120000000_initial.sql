-- nightshift store, PostgreSQL dialect. Timestamps are unix milliseconds (BIGINT); JSON is TEXT
-- (the same bytes as in SQLite, so canonical JSON hashes verify on either backend).
-- Keep this file in step with migrations/sqlite/20261120000000_initial.sql.

CREATE TABLE incidents (
    id               TEXT    PRIMARY KEY,
    rule             TEXT    NOT NULL,
    severity         TEXT    NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    fingerprint      TEXT    NOT NULL,
    target_kind      TEXT    NOT NULL,
    target_namespace TEXT,
    target_name      TEXT    NOT NULL,
    playbook         TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    opened_at        BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    closed_at        BIGINT,
    signal           TEXT    NOT NULL
);
CREATE INDEX incidents_by_fingerprint ON incidents (fingerprint, opened_at DESC);
CREATE INDEX incidents_by_opened_at ON incidents (opened_at DESC);

CREATE TABLE evidence (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id TEXT    NOT NULL REFERENCES incidents (id),
    item_id     TEXT    NOT NULL,
    facts       TEXT    NOT NULL,
    UNIQUE (incident_id, item_id)
);

CREATE TABLE diagnoses (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id TEXT    NOT NULL REFERENCES incidents (id),
    category    TEXT    NOT NULL,
    diagnosis   TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX diagnoses_by_incident ON diagnoses (incident_id);

CREATE TABLE plans (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id TEXT    NOT NULL REFERENCES incidents (id),
    hash        TEXT    NOT NULL,
    plan        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    UNIQUE (incident_id, hash)
);

CREATE TABLE approvals (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id TEXT    NOT NULL,
    plan_hash   TEXT    NOT NULL,
    decision    TEXT    NOT NULL CHECK (decision IN ('approved', 'denied', 'expired')),
    actor       TEXT    NOT NULL,
    at          BIGINT  NOT NULL,
    FOREIGN KEY (incident_id, plan_hash) REFERENCES plans (incident_id, hash)
);
CREATE INDEX approvals_by_incident ON approvals (incident_id);

-- An action of a plan is recorded (and so executed) at most once per incident. The plan hash
-- covers only actions and checks, so the same remedy for a later incident on the same target has
-- the same hash: the incident id belongs in the key.
CREATE TABLE actions (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id  TEXT    NOT NULL,
    plan_hash    TEXT    NOT NULL,
    action_index BIGINT  NOT NULL CHECK (action_index >= 0),
    tool         TEXT    NOT NULL,
    params       TEXT    NOT NULL,
    outcome      TEXT    NOT NULL,
    detail       TEXT    NOT NULL,
    at           BIGINT  NOT NULL,
    UNIQUE (incident_id, plan_hash, action_index),
    FOREIGN KEY (incident_id, plan_hash) REFERENCES plans (incident_id, hash)
);

CREATE TABLE verifications (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id TEXT    NOT NULL REFERENCES incidents (id),
    verdict     TEXT    NOT NULL,
    at          BIGINT  NOT NULL
);
CREATE INDEX verifications_by_incident ON verifications (incident_id);

-- The append-only, hash-chained audit log. `seq` is assigned by the writer from audit_head, so
-- the chain has no gaps; hash = sha256(prev_hash || canonical JSON of the row's fields).
CREATE TABLE audit (
    seq         BIGINT  PRIMARY KEY,
    at          BIGINT  NOT NULL,
    incident_id TEXT,
    kind        TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL UNIQUE
);
CREATE INDEX audit_by_incident ON audit (incident_id, seq);

-- The chain head: one row, locked FOR UPDATE by every append, so two writers cannot both
-- extend the same head and fork the chain.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT  NOT NULL,
    hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are append-only: % refused', TG_OP;
END;
$$;

CREATE TRIGGER audit_refuse_update BEFORE UPDATE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_refuse_delete BEFORE DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_refuse_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
