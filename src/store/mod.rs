//! The store: incidents and their history in SQLite (default) or PostgreSQL, through sqlx's
//! `Any` driver. This is the one module that talks to the database.
//!
//! Every write happens in one transaction together with the audit row that records it, so the
//! audit log and the tables can never disagree. Timestamps are stored as unix milliseconds
//! (sub-millisecond precision is dropped) and JSON as text. SQL uses `$N` placeholders, which
//! both SQLite and PostgreSQL accept.
//!
//! Writes are serialized where it matters: on SQLite every write transaction is
//! `BEGIN IMMEDIATE` (one writer at a time, waiting on the busy timeout); on PostgreSQL audit
//! appends lock the chain-head row and state changes are compare-and-set updates.

mod actions;
mod answers;
mod audit;
mod batch;
mod error;
mod incidents;
mod load;
mod pages;
mod pause;
mod records;
mod replayed;
mod search;

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, Executor, Transaction};

use crate::domain::redact;

pub use actions::{ActionOutcome, Recorded};
pub use answers::{Answer, AnswerOutcome};
pub use audit::{AuditReport, AuditRow, BrokenRow, GENESIS_HASH, kinds};
pub use batch::{Inserted, IntakeBatch};
pub use error::{Result, StoreError};
pub use incidents::IncidentSummary;
pub use load::{
    ActionRecord, ApprovalRecord, DiagnosisRecord, IncidentRecord, PlanRecord, VerificationRecord,
};
pub use pages::{NewPage, PageRecord, PageStatus};
pub use pause::{Pause, Switched};
pub use records::Decision;
pub use search::{IncidentFilter, ListedIncident};

use error::Context;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long `connect` retries a server that refuses connections.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a SQLite writer waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

/// Which database a [`Store`] is connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A SQLite file (or `sqlite::memory:`).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The URL scheme (`sqlite`, `postgres`).
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connection pool to the incident database, migrated to the current schema.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    location: String,
    in_memory: bool,
}

impl Store {
    /// Connects to `sqlite://PATH` (the file is created on first use; WAL, foreign keys and a
    /// busy timeout are switched on), `sqlite::memory:`, or `postgres://...`, and applies any
    /// pending migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        Store::connect_with_timeout(url, DEFAULT_CONNECT_TIMEOUT).await
    }

    /// Like [`Store::connect`], retrying a server that refuses connections for at most
    /// `timeout` (also the longest any later call waits for a free pooled connection).
    pub async fn connect_with_timeout(url: &str, timeout: Duration) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let target = Target::parse(url)?;
        let connect_error = |source| match source {
            sqlx::Error::PoolTimedOut => StoreError::ConnectTimeout {
                scheme: target.backend.as_str(),
                location: target.location.clone(),
                seconds: timeout.as_secs(),
            },
            source => StoreError::Connect {
                scheme: target.backend.as_str(),
                location: target.location.clone(),
                source,
            },
        };
        let pool = target
            .pool_options()
            .acquire_timeout(timeout)
            .connect(&target.url)
            .await
            .map_err(connect_error)?;
        if target.backend == Backend::Sqlite && !target.in_memory {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
                .fetch_one(&pool)
                .await
                .map_err(connect_error)?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(location = %target.location, mode, "SQLite refused WAL mode");
            }
        }
        let migrator = match target.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                scheme: target.backend.as_str(),
                location: target.location.clone(),
                source,
            })?;
        tracing::debug!(backend = %target.backend, location = %target.location, "store connected");
        Ok(Store {
            pool,
            backend: target.backend,
            location: target.location,
            in_memory: target.in_memory,
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where the database is (file path, or host, port and database), without credentials.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether the database lives in memory only (SQLite `:memory:`).
    pub fn in_memory(&self) -> bool {
        self.in_memory
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Begins a write transaction. On SQLite it takes the write lock up front, so reads inside
    /// it see the latest committed state and no other writer can interleave.
    async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
        .context("beginning a write transaction")
    }

    /// Begins a read transaction that sees one consistent snapshot.
    async fn begin_read(&self) -> Result<Transaction<'static, Any>> {
        match self.backend {
            Backend::Sqlite => self.pool.begin().await,
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await
            }
        }
        .context("beginning a read transaction")
    }
}

/// A parsed database URL.
struct Target {
    backend: Backend,
    /// The URL handed to sqlx (for SQLite, with `mode=rwc` added so the file is created).
    url: String,
    /// What error messages show.
    location: String,
    in_memory: bool,
}

impl Target {
    fn parse(url: &str) -> Result<Target> {
        let Some((scheme, _)) = url.split_once(':') else {
            return Err(StoreError::NotAUrl);
        };
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Ok(Target::sqlite(url)),
            "postgres" | "postgresql" => Ok(Target {
                backend: Backend::Postgres,
                url: url.to_owned(),
                location: postgres_location(url),
                in_memory: false,
            }),
            _ => Err(StoreError::UnsupportedScheme { scheme }),
        }
    }

    fn sqlite(url: &str) -> Target {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let in_memory = path == ":memory:" || query.split('&').any(|p| p == "mode=memory");
        let url = if query.split('&').any(|p| p.starts_with("mode=")) {
            url.to_owned()
        } else if query.is_empty() {
            format!("{url}?mode=rwc")
        } else {
            format!("{url}&mode=rwc")
        };
        Target {
            backend: Backend::Sqlite,
            url,
            location: if path.is_empty() {
                "(empty path)".to_owned()
            } else {
                path.to_owned()
            },
            in_memory,
        }
    }

    fn pool_options(&self) -> AnyPoolOptions {
        let options = AnyPoolOptions::new();
        match self.backend {
            Backend::Postgres => options.max_connections(10),
            // One connection is the whole database when it lives in memory: keep it forever.
            Backend::Sqlite if self.in_memory => options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .after_connect(|conn, _| Box::pin(sqlite_pragmas(conn))),
            Backend::Sqlite => options
                .max_connections(8)
                .after_connect(|conn, _| Box::pin(sqlite_pragmas(conn))),
        }
    }
}

async fn sqlite_pragmas(conn: &mut AnyConnection) -> std::result::Result<(), sqlx::Error> {
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute(format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}").as_str())
        .await?;
    Ok(())
}

/// `host:port/db` from a PostgreSQL URL: no user, no password, no options. The credentials
/// end at the URL's last `@`, so a password holding `/`, `?` or `@` is cut away whole.
fn postgres_location(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    let (host, database) = rest.split_once('/').unwrap_or((rest, ""));
    let host = if host.is_empty() { "localhost" } else { host };
    format!("{host}/{database}")
}

/// A store URL fit to print: the password of its user info (everything from the first `:` of
/// the part before the URL's last `@`) and `password=`-style parameters masked.
pub fn printable_url(url: &str) -> String {
    let masked = match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, after)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:{}@{after}", redact::MASK),
                None => url.to_owned(),
            },
            None => url.to_owned(),
        },
        None => url.to_owned(),
    };
    redact::text(&masked)
}

/// Unix milliseconds, as stored.
fn millis(at: Timestamp) -> i64 {
    at.as_millisecond()
}

/// A stored millisecond value back to a timestamp.
fn timestamp(ms: i64, what: &str) -> Result<Timestamp> {
    Timestamp::from_millisecond(ms).map_err(|err| StoreError::Corrupt {
        what: what.to_owned(),
        reason: format!("{ms} is not a valid unix-millisecond timestamp: {err}"),
    })
}

/// Serializes a value for a JSON text column.
fn to_json(value: &impl Serialize, what: &'static str) -> Result<String> {
    serde_json::to_string(value).map_err(|source| StoreError::Serialize { what, source })
}

/// Decodes a JSON text column.
fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|err| StoreError::Corrupt {
        what: what.to_owned(),
        reason: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::{Backend, StoreError, Target, postgres_location, printable_url};

    #[test]
    fn a_sqlite_url_gets_create_mode_and_shows_its_path() {
        let target = Target::parse("sqlite://var/lib/nightshift.db").expect("parse");
        assert_eq!(target.backend, Backend::Sqlite);
        assert_eq!(target.url, "sqlite://var/lib/nightshift.db?mode=rwc");
        assert_eq!(target.location, "var/lib/nightshift.db");
        let explicit = Target::parse("sqlite:///tmp/x.db?mode=ro").expect("parse");
        assert_eq!(explicit.url, "sqlite:///tmp/x.db?mode=ro");
        assert_eq!(explicit.location, "/tmp/x.db");
        assert!(Target::parse("sqlite::memory:").expect("parse").in_memory);
    }

    #[test]
    fn a_postgres_location_never_shows_the_password() {
        let location =
            postgres_location("postgres://me:s3cret@db.internal:5433/nightshift?sslmode=require");
        assert_eq!(location, "db.internal:5433/nightshift");
        assert!(!location.contains("s3cret"));
        assert_eq!(
            Target::parse("postgresql://h/db").expect("parse").backend,
            Backend::Postgres
        );
    }

    #[test]
    fn a_password_holding_url_delimiters_never_reaches_the_location_or_a_printed_url() {
        let url = "postgres://me:Xq7/pw?x@y#z@db.internal:5433/nightshift?sslmode=require";
        assert_eq!(postgres_location(url), "db.internal:5433/nightshift");
        assert_eq!(
            printable_url(url),
            "postgres://me:<redacted>@db.internal:5433/nightshift?sslmode=require"
        );
        assert_eq!(
            printable_url("postgres://db/n?user=me&password=Xq7pw"),
            "postgres://db/n?user=me&password=<redacted>"
        );
        assert_eq!(
            printable_url("sqlite://var/lib/n.db"),
            "sqlite://var/lib/n.db"
        );
    }

    #[test]
    fn an_unknown_scheme_is_refused_by_name() {
        let Err(err) = Target::parse("mysql://localhost/db") else {
            panic!("mysql accepted");
        };
        assert!(matches!(&err, StoreError::UnsupportedScheme { scheme } if scheme == "mysql"));
        assert!(err.to_string().contains("sqlite://"), "{err}");
        assert!(matches!(
            Target::parse("nightshift.db"),
            Err(StoreError::NotAUrl)
        ));
    }
}
