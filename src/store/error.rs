//! The store's one error enum. Every variant says what was being done and to what, so a log
//! line is enough to act on; `metric_label` gives each a bounded name for counters.

use crate::domain::incident::{IncidentState, InvalidTransition};

/// A `Result` whose error defaults to [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no database nightshift can use.
    #[error(
        "unsupported database URL scheme `{scheme}`: use sqlite://PATH (or sqlite::memory:) or postgres://USER@HOST:PORT/DB"
    )]
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
    },
    /// The string has no `scheme:` at all.
    #[error(
        "the database URL has no scheme: use sqlite://PATH (or sqlite::memory:) or postgres://USER@HOST:PORT/DB"
    )]
    NotAUrl,
    /// The database could not be opened or reached.
    #[error("cannot open the {scheme} database at {location}: {source}")]
    Connect {
        /// `sqlite` or `postgres`.
        scheme: &'static str,
        /// The file path, or host, port and database (never the password).
        location: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// No connection could be made before the timeout (PostgreSQL refusing connections).
    #[error(
        "cannot reach the {scheme} database at {location} within {seconds}s: is the server running and accepting connections?"
    )]
    ConnectTimeout {
        /// `sqlite` or `postgres`.
        scheme: &'static str,
        /// Host, port and database (never the password).
        location: String,
        /// How long connecting was retried.
        seconds: u64,
    },
    /// Migrations could not be applied.
    #[error("cannot migrate the {scheme} database at {location}: {source}")]
    Migrate {
        /// `sqlite` or `postgres`.
        scheme: &'static str,
        /// The file path, or host, port and database.
        location: String,
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// An incident with this id is already stored.
    #[error("incident {0} already exists")]
    DuplicateIncident(String),
    /// An incident with this fingerprint is still open (one open incident per fingerprint).
    #[error("incident {id} with fingerprint {fingerprint} is still open")]
    AlreadyOpen {
        /// The fingerprint.
        fingerprint: String,
        /// The open incident.
        id: String,
    },
    /// No incident has this id.
    #[error("no incident with id {0}")]
    UnknownIncident(String),
    /// The state machine refuses the transition.
    #[error("incident {id}: {source}")]
    InvalidTransition {
        /// The incident.
        id: String,
        /// What the state machine said.
        #[source]
        source: InvalidTransition,
    },
    /// Another writer moved the incident between our read and our compare-and-set.
    #[error("incident {id} left state {expected} before it could become {to}: another writer won")]
    LostRace {
        /// The incident.
        id: String,
        /// The state read before the update.
        expected: IncidentState,
        /// The state asked for.
        to: IncidentState,
    },
    /// An approval or action names a plan that was never recorded for this incident.
    #[error("plan {plan_hash} was never recorded for incident {id}")]
    UnknownPlan {
        /// The incident.
        id: String,
        /// The plan hash given.
        plan_hash: String,
    },
    /// An action index past the end of the recorded plan.
    #[error("plan {plan_hash} of incident {id} has no action {index}")]
    UnknownAction {
        /// The incident.
        id: String,
        /// The plan hash.
        plan_hash: String,
        /// The index given.
        index: usize,
    },
    /// The action given does not match the action at that index of the recorded plan.
    #[error("action {index} of plan {plan_hash} (incident {id}) is not the action given")]
    ActionMismatch {
        /// The incident.
        id: String,
        /// The plan hash.
        plan_hash: String,
        /// The index given.
        index: usize,
    },
    /// `complete_action` on an action that was never started or is already finished.
    #[error("action {index} of plan {plan_hash} (incident {id}) is not in the started state")]
    ActionNotStarted {
        /// The incident.
        id: String,
        /// The plan hash.
        plan_hash: String,
        /// The index given.
        index: usize,
    },
    /// An approval or action on an incident recorded by `nightshift replay`: a replay is
    /// evidence from a fixture, never a reason to change the cluster.
    #[error("incident {0} was recorded by a replay: it is never approved or executed")]
    Replayed(String),
    /// A value could not be serialized for storage.
    #[error("cannot serialize {what}: {source}")]
    Serialize {
        /// What was being stored.
        what: &'static str,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// A stored value does not decode: the row was written by something else or damaged.
    #[error("stored {what} is unreadable: {reason}")]
    Corrupt {
        /// Which value.
        what: String,
        /// Why.
        reason: String,
    },
    /// A batch of intakes failed as a whole: every signal in it gets this same error.
    #[error("{0}")]
    Batch(std::sync::Arc<StoreError>),
    /// The task that writes intake batches is gone (the runtime that ran it shut down).
    #[error("the intake writer has stopped: the daemon is shutting down")]
    WriterStopped,
    /// The database refused or failed a statement.
    #[error("database error while {context}: {source}")]
    Database {
        /// What the store was doing.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

impl StoreError {
    /// A short, bounded name for metrics labels (`nightshift_store_errors_total{error}`).
    pub fn metric_label(&self) -> &'static str {
        match self {
            StoreError::UnsupportedScheme { .. } | StoreError::NotAUrl => "bad_url",
            StoreError::Connect { .. } | StoreError::ConnectTimeout { .. } => "connect",
            StoreError::Migrate { .. } => "migrate",
            StoreError::DuplicateIncident(_) => "duplicate_incident",
            StoreError::AlreadyOpen { .. } => "already_open",
            StoreError::UnknownIncident(_) => "unknown_incident",
            StoreError::InvalidTransition { .. } => "invalid_transition",
            StoreError::LostRace { .. } => "lost_race",
            StoreError::UnknownPlan { .. } => "unknown_plan",
            StoreError::UnknownAction { .. } => "unknown_action",
            StoreError::ActionMismatch { .. } => "action_mismatch",
            StoreError::ActionNotStarted { .. } => "action_not_started",
            StoreError::Replayed(_) => "replayed",
            StoreError::Serialize { .. } => "serialize",
            StoreError::Corrupt { .. } => "corrupt",
            StoreError::Database { .. } => "database",
            StoreError::Batch(inner) => inner.metric_label(),
            StoreError::WriterStopped => "writer_stopped",
        }
    }
}

/// Attaches what the store was doing to a driver error.
pub(crate) trait Context<T> {
    /// Wraps the error as [`StoreError::Database`].
    fn context(self, context: &'static str) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, sqlx::Error> {
    fn context(self, context: &'static str) -> Result<T> {
        self.map_err(|source| StoreError::Database { context, source })
    }
}

/// Whether a driver error is a unique-constraint violation.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
