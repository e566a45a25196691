-- At most one open (not yet closed) incident per fingerprint, enforced by the database so that two
-- detections racing (two replicas of the daemon, or a re-list during a restart) cannot both open
-- one. Keep this file in step with its SQLite twin.
CREATE UNIQUE INDEX incidents_one_open_per_fingerprint ON incidents (fingerprint)
WHERE closed_at IS NULL;

-- The engine resumes and polls incidents by state.
CREATE INDEX incidents_by_state ON incidents (state);

-- The workload an incident is about (`Deployment/shop/checkout`; the target itself when it has
-- none): after an escalation nightshift takes no further automatic action on it.
ALTER TABLE incidents ADD COLUMN scope TEXT NOT NULL DEFAULT '';
CREATE INDEX incidents_by_scope ON incidents (scope, state);
