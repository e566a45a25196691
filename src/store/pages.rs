//! Pages to humans: one row a delivery, written before anything is sent (the intent to page
//! survives a crash), claimed by one daemon at a time with a lease, and settled as delivered,
//! failed or still pending. Queueing and the final outcome are audit rows too.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use super::audit::{self, Entry};
use super::error::{Context, Result};
use super::{Store, from_json, millis, timestamp, to_json};

/// Audit kind: a page was queued (detail: pager, event).
pub const PAGE_QUEUED: &str = "page.queued";
/// Audit kind: a page was delivered (detail: pager, event, attempts).
pub const PAGE_DELIVERED: &str = "page.delivered";
/// Audit kind: a page could not be delivered and nightshift gave up (detail: the error).
pub const PAGE_FAILED: &str = "page.failed";

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PageStatus {
    /// Not delivered yet; it will be (again) tried.
    Pending,
    /// The pager took it.
    Delivered,
    /// Refused, or undeliverable for too long: nightshift gave up.
    Failed,
    /// Folded into a grouped page during a wide outage; not sent by itself.
    Grouped,
}

impl PageStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PageStatus::Pending => "pending",
            PageStatus::Delivered => "delivered",
            PageStatus::Failed => "failed",
            PageStatus::Grouped => "grouped",
        }
    }

    fn parse(text: &str) -> Result<PageStatus> {
        [
            PageStatus::Pending,
            PageStatus::Delivered,
            PageStatus::Failed,
            PageStatus::Grouped,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| super::StoreError::Corrupt {
            what: "page status".into(),
            reason: format!("{text:?} is not a page status"),
        })
    }
}

/// A delivery to queue.
#[derive(Debug, Clone)]
pub struct NewPage<'a, P: Serialize> {
    /// The incident.
    pub incident_id: &'a str,
    /// The pager's name.
    pub pager: &'a str,
    /// Which state change asked for it (one page per incident, pager and intent).
    pub intent: &'a str,
    /// `trigger`, `acknowledge` or `resolve`.
    pub event: &'a str,
    /// The key tying the incident's events together at the pager.
    pub dedup_key: &'a str,
    /// The content.
    pub page: &'a P,
    /// `pending`, or `grouped` for a page folded into a group.
    pub status: PageStatus,
}

/// A stored delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageRecord {
    /// Its id.
    pub id: i64,
    /// The incident.
    pub incident_id: String,
    /// The pager's name.
    pub pager: String,
    /// Which state change asked for it.
    pub intent: String,
    /// `trigger`, `acknowledge` or `resolve`.
    pub event: String,
    /// The key tying the incident's events together.
    pub dedup_key: String,
    /// The content, as queued.
    pub page: serde_json::Value,
    /// Where it stands.
    pub status: PageStatus,
    /// HTTP attempts so far.
    pub attempts: i64,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// Queued at.
    pub created_at: Timestamp,
    /// Last changed at.
    pub updated_at: Timestamp,
    /// Next try (while pending).
    pub next_attempt_at: Timestamp,
    /// Delivered at.
    pub delivered_at: Option<Timestamp>,
}

const COLUMNS: &str = "id, incident_id, pager, intent, event, dedup_key, page, status, attempts, \
                       last_error, created_at, updated_at, next_attempt_at, delivered_at";

impl Store {
    /// Queues a delivery (with its audit row); `None` when this incident, pager and intent
    /// were queued before (a state change replayed after a crash).
    pub async fn queue_page<P: Serialize>(
        &self,
        new: &NewPage<'_, P>,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        let page = to_json(new.page, "page")?;
        let mut tx = self.begin_write().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO pages (incident_id, pager, intent, event, dedup_key, page, status, \
             attempts, created_at, updated_at, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8, $8) \
             ON CONFLICT (incident_id, pager, intent) DO NOTHING RETURNING id",
        )
        .bind(new.incident_id)
        .bind(new.pager)
        .bind(new.intent)
        .bind(new.event)
        .bind(new.dedup_key)
        .bind(page)
        .bind(new.status.as_str())
        .bind(millis(now))
        .fetch_optional(&mut *tx)
        .await
        .context("queueing a page")?;
        if id.is_some() {
            let detail = json!({"pager": new.pager, "event": new.event,
                                "status": new.status.as_str(), "dedup_key": new.dedup_key});
            let entry = Entry {
                incident_id: Some(new.incident_id),
                kind: PAGE_QUEUED,
                actor: "nightshift",
                detail,
                at: now,
            };
            audit::append(&mut tx, self.backend, entry).await?;
        }
        tx.commit().await.context("committing a queued page")?;
        Ok(id)
    }

    /// Claims a pending delivery that is due: no other daemon tries it before `lease_until`.
    /// `None` when it is not pending, not due, or another daemon claimed it first.
    pub async fn claim_page(
        &self,
        id: i64,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<PageRecord>> {
        let claimed = sqlx::query(
            "UPDATE pages SET next_attempt_at = $1 \
             WHERE id = $2 AND status = 'pending' AND next_attempt_at <= $3",
        )
        .bind(millis(lease_until))
        .bind(id)
        .bind(millis(now))
        .execute(&self.pool)
        .await
        .context("claiming a page")?;
        if claimed.rows_affected() == 0 {
            return Ok(None);
        }
        self.page(id).await
    }

    /// One delivery.
    pub async fn page(&self, id: i64) -> Result<Option<PageRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM pages WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a page")?;
        row.as_ref().map(decode).transpose()
    }

    /// Records how a claimed delivery went: `attempts` more HTTP attempts, the last error,
    /// and its new status (pending again: tried at `next_attempt_at`). A final outcome
    /// (delivered, failed) is an audit row too.
    pub async fn settle_page(
        &self,
        page: &PageRecord,
        status: PageStatus,
        attempts: i64,
        error: Option<&str>,
        next_attempt_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let delivered = (status == PageStatus::Delivered).then(|| millis(now));
        sqlx::query(
            "UPDATE pages SET status = $1, attempts = attempts + $2, last_error = $3, \
             updated_at = $4, next_attempt_at = $5, delivered_at = $6 WHERE id = $7",
        )
        .bind(status.as_str())
        .bind(attempts)
        .bind(error)
        .bind(millis(now))
        .bind(millis(next_attempt_at))
        .bind(delivered)
        .bind(page.id)
        .execute(&mut *tx)
        .await
        .context("settling a page")?;
        let kind = match status {
            PageStatus::Delivered => Some(PAGE_DELIVERED),
            PageStatus::Failed => Some(PAGE_FAILED),
            PageStatus::Pending | PageStatus::Grouped => None,
        };
        if let Some(kind) = kind {
            let detail = json!({"pager": page.pager, "event": page.event,
                                "attempts": page.attempts + attempts, "error": error});
            let entry = Entry {
                incident_id: Some(&page.incident_id),
                kind,
                actor: "nightshift",
                detail,
                at: now,
            };
            audit::append(&mut tx, self.backend, entry).await?;
        }
        tx.commit().await.context("committing a settled page")?;
        Ok(())
    }

    /// Pending deliveries due at `now` (id and pager), oldest first (at most `limit`).
    pub async fn due_pages(&self, now: Timestamp, limit: i64) -> Result<Vec<(i64, String)>> {
        sqlx::query_as(
            "SELECT id, pager FROM pages WHERE status = 'pending' AND next_attempt_at <= $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(millis(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("listing due pages")
    }

    /// Whether an older delivery of the same incident to the same pager is still pending
    /// (pages of one incident go out in order: no resolve before its trigger).
    pub async fn earlier_page_pending(&self, page: &PageRecord) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pages WHERE incident_id = $1 AND pager = $2 AND id < $3 \
             AND status = 'pending'",
        )
        .bind(&page.incident_id)
        .bind(&page.pager)
        .bind(page.id)
        .fetch_one(&self.pool)
        .await
        .context("looking for earlier pages")?;
        Ok(n > 0)
    }

    /// An incident's deliveries, oldest first.
    pub async fn pages_of(&self, incident_id: &str) -> Result<Vec<PageRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM pages WHERE incident_id = $1 ORDER BY id");
        let rows = sqlx::query(&sql)
            .bind(incident_id)
            .fetch_all(&self.pool)
            .await
            .context("reading an incident's pages")?;
        rows.iter().map(decode).collect()
    }

    /// Incidents paged (triggered) to `pager` since `since`, grouped ones included, and the
    /// grouped page of that window if one was queued: `(count, group already queued)`.
    pub async fn triggers_since(&self, pager: &str, since: Timestamp) -> Result<(i64, bool)> {
        let rows = sqlx::query(
            "SELECT intent, COUNT(*) AS n FROM pages WHERE pager = $1 AND event = 'trigger' \
             AND created_at >= $2 GROUP BY intent",
        )
        .bind(pager)
        .bind(millis(since))
        .fetch_all(&self.pool)
        .await
        .context("counting recent pages")?;
        let mut count = 0;
        let mut grouped = false;
        for row in rows {
            let intent: String = row.try_get("intent").context("counting recent pages")?;
            let n: i64 = row.try_get("n").context("counting recent pages")?;
            if intent.starts_with("group:") {
                grouped = true;
            } else {
                count += n;
            }
        }
        Ok((count, grouped))
    }

    /// Incident ids that triggered `pager` since `since` without a page of their own
    /// (`grouped`), oldest first.
    pub async fn grouped_since(&self, pager: &str, since: Timestamp) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT incident_id FROM pages WHERE pager = $1 AND event = 'trigger' \
             AND status = 'grouped' AND created_at >= $2 ORDER BY id",
        )
        .bind(pager)
        .bind(millis(since))
        .fetch_all(&self.pool)
        .await
        .context("listing grouped pages")
    }

    /// How many deliveries are pending and how many failed.
    pub async fn page_backlog(&self) -> Result<(i64, i64)> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM pages WHERE status IN ('pending', 'failed') \
             GROUP BY status",
        )
        .fetch_all(&self.pool)
        .await
        .context("counting undelivered pages")?;
        let (mut pending, mut failed) = (0, 0);
        for row in rows {
            let status: String = row.try_get("status").context("counting pages")?;
            let n: i64 = row.try_get("n").context("counting pages")?;
            if status == "pending" {
                pending = n;
            } else {
                failed = n;
            }
        }
        Ok((pending, failed))
    }

    /// Incidents awaiting approval that no page was ever queued for (a crash between the
    /// state change and the page's row).
    pub async fn awaiting_unpaged(&self) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT id FROM incidents i WHERE state = 'awaiting-approval' AND NOT EXISTS \
             (SELECT 1 FROM pages p WHERE p.incident_id = i.id AND p.event = 'trigger') \
             ORDER BY opened_at",
        )
        .fetch_all(&self.pool)
        .await
        .context("looking for unpaged incidents")
    }
}

fn decode(row: &sqlx::any::AnyRow) -> Result<PageRecord> {
    let get = "reading a page";
    let at = |name: &str| -> Result<Timestamp> {
        timestamp(row.try_get(name).context(get)?, "page time")
    };
    let delivered: Option<i64> = row.try_get("delivered_at").context(get)?;
    let page: String = row.try_get("page").context(get)?;
    let status: String = row.try_get("status").context(get)?;
    Ok(PageRecord {
        id: row.try_get("id").context(get)?,
        incident_id: row.try_get("incident_id").context(get)?,
        pager: row.try_get("pager").context(get)?,
        intent: row.try_get("intent").context(get)?,
        event: row.try_get("event").context(get)?,
        dedup_key: row.try_get("dedup_key").context(get)?,
        page: from_json(&page, "page")?,
        status: PageStatus::parse(&status)?,
        attempts: row.try_get("attempts").context(get)?,
        last_error: row.try_get("last_error").context(get)?,
        created_at: at("created_at")?,
        updated_at: at("updated_at")?,
        next_attempt_at: at("next_attempt_at")?,
        delivered_at: delivered
            .map(|ms| timestamp(ms, "page delivery time"))
            .transpose()?,
    })
}
