-- Approval links are single use: the nonce of a link that decided is stored here in the same
-- transaction as the decision it recorded (approvals) and its audit row, so a replayed or
-- concurrent second use finds it and records nothing. Keep this file in step with its twin.
CREATE TABLE link_nonces (
    nonce       TEXT   PRIMARY KEY,
    incident_id TEXT   NOT NULL,
    plan_hash   TEXT   NOT NULL,
    decision    TEXT   NOT NULL CHECK (decision IN ('approved', 'denied', 'expired')),
    actor       TEXT   NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX link_nonces_by_incident ON link_nonces (incident_id);
