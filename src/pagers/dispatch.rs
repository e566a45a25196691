//! The dispatcher: between the engine and the pagers. [`Dispatcher::notify`] decides what a
//! state change sends, routes it, groups it during a wide outage and records each delivery in
//! the store before returning — the engine never waits for a pager. One worker per pager sends
//! the recorded deliveries in order, under its rate limit, retrying 429 / 5xx / network errors
//! with backoff; a sweep picks up deliveries that are due again (and those a restart left).

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::content::{self, EventKind, Page};
use super::settings::PagingSettings;
use super::{Delivery, PageLinks, Pager, PagerError, route};
use crate::domain::incident::IncidentState;
use crate::engine::Clock;
use crate::store::{NewPage, PageRecord, PageStatus, Store, StoreError};
use crate::telemetry::Metrics;

/// How many due deliveries one sweep picks up.
const SWEEP_BATCH: i64 = 500;

/// A state change the engine reports.
#[derive(Debug, Clone, Copy)]
pub struct Notice<'a> {
    /// The incident.
    pub incident: &'a str,
    /// The state it moved to.
    pub to: IncidentState,
    /// Who moved it.
    pub by: &'a str,
    /// Why.
    pub why: &'a str,
}

struct Worker {
    pager: Arc<dyn Pager>,
    queue: mpsc::UnboundedSender<i64>,
    limiter: DefaultDirectRateLimiter,
}

/// Pages humans for the engine; cheap to share (`Arc`).
pub struct Dispatcher {
    store: Store,
    workers: BTreeMap<String, Worker>,
    receivers: Mutex<Option<BTreeMap<String, mpsc::UnboundedReceiver<i64>>>>,
    names: Vec<String>,
    settings: PagingSettings,
    links: Arc<dyn PageLinks>,
    list_link: Option<String>,
    metrics: Metrics,
    clock: Clock,
    /// Grouping decisions are made one at a time (count, then queue).
    grouping: tokio::sync::Mutex<()>,
}

impl Dispatcher {
    /// A dispatcher over `pagers`. `links` makes the links pages carry; `list_link` is the
    /// incident list a grouped page points at.
    pub fn new(
        store: Store,
        pagers: Vec<Arc<dyn Pager>>,
        settings: PagingSettings,
        links: Arc<dyn PageLinks>,
        list_link: Option<String>,
        metrics: Metrics,
        clock: Clock,
    ) -> Arc<Dispatcher> {
        let per_minute = NonZeroU32::new(settings.per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.burst).unwrap_or(NonZeroU32::MIN);
        let mut workers = BTreeMap::new();
        let mut receivers = BTreeMap::new();
        let mut names = Vec::new();
        for pager in pagers {
            let name = pager.name().to_owned();
            metrics.add_pager(&name);
            let (queue, rx) = mpsc::unbounded_channel();
            let limiter = RateLimiter::direct(Quota::per_minute(per_minute).allow_burst(burst));
            names.push(name.clone());
            receivers.insert(name.clone(), rx);
            workers.insert(
                name,
                Worker {
                    pager,
                    queue,
                    limiter,
                },
            );
        }
        Arc::new(Dispatcher {
            store,
            workers,
            receivers: Mutex::new(Some(receivers)),
            names,
            settings,
            links,
            list_link,
            metrics,
            clock,
            grouping: tokio::sync::Mutex::new(()),
        })
    }

    fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// Records the pages a state change sends (before returning) and hands them to the
    /// workers. A change that pages nobody records nothing.
    pub async fn notify(&self, notice: Notice<'_>) -> Result<(), StoreError> {
        let Some(event) = content::event_for(notice.to) else {
            return Ok(());
        };
        let Some(record) = self.store.load(notice.incident).await? else {
            return Ok(());
        };
        let prior = self.store.pages_of(notice.incident).await?;
        let page = content::page_for(&record, event, notice.to, notice.why, &*self.links);
        let intent = notice.to.as_str();
        let mut queued = Vec::new();
        if event == EventKind::Trigger {
            let routed = route::pagers_for(&record.incident, &self.settings.routes, &self.names);
            for pager in routed.iter().filter(|p| self.workers.contains_key(*p)) {
                let key = trigger_key(notice.incident, pager, &prior);
                queued.extend(self.trigger(pager, intent, &key, &page).await?);
            }
        } else {
            for (pager, key) in triggered(&prior) {
                let intent = format!("{intent}:{key}");
                let new = NewPage {
                    incident_id: notice.incident,
                    pager: &pager,
                    intent: &intent,
                    event: event.as_str(),
                    dedup_key: &key,
                    page: &page,
                    status: PageStatus::Pending,
                };
                if let Some(id) = self.store.queue_page(&new, self.now()).await? {
                    queued.push((pager.clone(), id));
                }
            }
        }
        for (pager, id) in queued {
            self.enqueue(&pager, id);
        }
        self.count_backlog().await;
        Ok(())
    }

    /// Queues a trigger to `pager`, or folds it into the window's grouped page when the
    /// window already holds `group.threshold` pages; the ids to send.
    async fn trigger(
        &self,
        pager: &str,
        intent: &str,
        key: &str,
        page: &Page,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let _one_at_a_time = self.grouping.lock().await;
        let now = self.now();
        let group = &self.settings.group;
        let window = SignedDuration::from_secs(i64::try_from(group.window_seconds).unwrap_or(0));
        let (count, group_queued) = if group.threshold > 0 {
            self.store.triggers_since(pager, now - window).await?
        } else {
            (0, false)
        };
        let grouped = group.threshold > 0 && count >= i64::from(group.threshold);
        let status = if grouped {
            PageStatus::Grouped
        } else {
            PageStatus::Pending
        };
        let new = NewPage {
            incident_id: &page.incident,
            pager,
            intent,
            event: EventKind::Trigger.as_str(),
            dedup_key: key,
            page,
            status,
        };
        let Some(id) = self.store.queue_page(&new, now).await? else {
            return Ok(Vec::new());
        };
        if !grouped {
            return Ok(vec![(pager.to_owned(), id)]);
        }
        self.metrics
            .page(pager, EventKind::Trigger.as_str(), "grouped");
        if group_queued {
            return Ok(Vec::new());
        }
        // The first incident past the threshold opens the window's grouped page.
        let incidents = self.store.grouped_since(pager, now - window).await?;
        let grouped_page = content::grouped_page(
            pager,
            &incidents,
            group.window_seconds,
            &*self.links,
            self.list_link.clone(),
        );
        let group_key = format!("nightshift-group-{pager}-{}", now.as_millisecond());
        let group_intent = format!("group:{}", now.as_millisecond());
        let new = NewPage {
            incident_id: &page.incident,
            pager,
            intent: &group_intent,
            event: EventKind::Trigger.as_str(),
            dedup_key: &group_key,
            page: &grouped_page,
            status: PageStatus::Pending,
        };
        Ok(self
            .store
            .queue_page(&new, now)
            .await?
            .map(|id| (pager.to_owned(), id))
            .into_iter()
            .collect())
    }

    fn enqueue(&self, pager: &str, id: i64) {
        if let Some(worker) = self.workers.get(pager) {
            // A closed queue means the daemon is stopping: the row stays pending for the next.
            let _ = worker.queue.send(id);
        }
    }

    /// Runs the workers and the sweep until `shutdown`. The first sweep (right away) sends
    /// whatever a previous run left pending and pages incidents that wait for approval but
    /// were never paged.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let receivers = self
            .receivers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut tasks = tokio::task::JoinSet::new();
        for (name, mut rx) in receivers.into_iter().flatten() {
            let me = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        id = rx.recv() => match id {
                            Some(id) => me.deliver(&name, id).await,
                            None => break,
                        },
                    }
                }
            });
        }
        let mut sweep = tokio::time::interval(Duration::from_secs(self.settings.retry_seconds));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = sweep.tick() => self.sweep().await,
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Pages unpaged incidents awaiting approval and hands every due delivery to its worker.
    pub async fn sweep(&self) {
        match self.store.awaiting_unpaged().await {
            Ok(ids) => {
                for id in ids {
                    let notice = Notice {
                        incident: &id,
                        to: IncidentState::AwaitingApproval,
                        by: "nightshift",
                        why: "paged: the plan needs a human approval",
                    };
                    if let Err(err) = self.notify(notice).await {
                        tracing::warn!(incident = %id, error = %err, "could not queue the page");
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not look for unpaged incidents"),
        }
        match self.store.due_pages(self.now(), SWEEP_BATCH).await {
            Ok(due) => {
                for (id, pager) in due {
                    if self.workers.contains_key(&pager) {
                        self.enqueue(&pager, id);
                    } else {
                        self.orphan(id, &pager).await;
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not look for pages to retry"),
        }
        self.count_backlog().await;
    }

    /// A pending delivery to a pager no longer configured: recorded failed, not dropped.
    async fn orphan(&self, id: i64, pager: &str) {
        let now = self.now();
        let Ok(Some(page)) = self.store.claim_page(id, now, now).await else {
            return;
        };
        let why = format!("pager {pager} is no longer configured");
        tracing::error!(incident = %page.incident_id, pager, "page not delivered: {why}");
        if let Err(err) = self
            .store
            .settle_page(&page, PageStatus::Failed, 0, Some(&why), now, now)
            .await
        {
            tracing::warn!(error = %err, "could not record the failed page");
        }
        self.metrics.page(pager, &page.event, "failed");
    }

    /// Sends one recorded delivery, if it is still pending and due and no other daemon has
    /// claimed it, and records how it went.
    pub async fn deliver(&self, pager: &str, id: i64) {
        if let Err(err) = self.try_deliver(pager, id).await {
            tracing::warn!(pager, page = id, error = %err, "page bookkeeping failed; the sweep retries it");
        }
        self.count_backlog().await;
    }

    async fn try_deliver(&self, pager_name: &str, id: i64) -> Result<(), StoreError> {
        let Some(worker) = self.workers.get(pager_name) else {
            return Ok(());
        };
        let now = self.now();
        let Some(record) = self.store.claim_page(id, now, now + self.lease()).await? else {
            return Ok(());
        };
        let retry_at = now + seconds(self.settings.retry_seconds);
        if self.store.earlier_page_pending(&record).await? {
            // Pages of one incident go out in order: this one waits for the earlier one.
            return self
                .store
                .settle_page(&record, PageStatus::Pending, 0, None, retry_at, now)
                .await;
        }
        let delivery = match decode(&record) {
            Ok(delivery) => delivery,
            Err(why) => {
                self.metrics.page(pager_name, &record.event, "failed");
                return self
                    .store
                    .settle_page(&record, PageStatus::Failed, 0, Some(&why), now, now)
                    .await;
            }
        };
        let (result, attempts) = self.send(worker, &delivery, &record).await;
        let now = self.now();
        let (status, error) = match &result {
            Ok(()) => (PageStatus::Delivered, None),
            Err(err) if !err.is_retryable() => (PageStatus::Failed, Some(err.to_string())),
            Err(err) if now >= record.created_at + self.give_up() => {
                (PageStatus::Failed, Some(format!("gave up: {err}")))
            }
            Err(err) => (PageStatus::Pending, Some(err.to_string())),
        };
        let outcome = match status {
            PageStatus::Delivered => "delivered",
            PageStatus::Failed => "failed",
            _ => "deferred",
        };
        self.metrics.page(pager_name, &record.event, outcome);
        match (&status, &error) {
            (PageStatus::Delivered, _) => {
                tracing::info!(incident = %record.incident_id, pager = pager_name, event = %record.event, attempts, "page delivered")
            }
            (_, Some(error)) => {
                tracing::error!(incident = %record.incident_id, pager = pager_name, event = %record.event, attempts, error, status = status.as_str(), "page not delivered")
            }
            _ => {}
        }
        let attempts = i64::try_from(attempts).unwrap_or(i64::MAX);
        self.store
            .settle_page(&record, status, attempts, error.as_deref(), retry_at, now)
            .await
    }

    /// Tries up to `attempts` times, retrying what may succeed later with exponential backoff;
    /// every attempt waits for the pager's rate limit. The result and the attempts made.
    async fn send(
        &self,
        worker: &Worker,
        delivery: &Delivery,
        record: &PageRecord,
    ) -> (Result<(), PagerError>, usize) {
        let made = std::sync::atomic::AtomicUsize::new(0);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(self.settings.max_backoff_seconds))
            .with_max_times(self.settings.attempts.saturating_sub(1))
            .with_jitter();
        let result = (|| async {
            worker.limiter.until_ready().await;
            made.fetch_add(1, Ordering::SeqCst);
            worker.pager.send(delivery).await
        })
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(PagerError::is_retryable)
        .notify(|err, wait| {
            self.metrics.page(&record.pager, &record.event, "retried");
            tracing::warn!(incident = %record.incident_id, pager = %record.pager, error = %err, ?wait, "page attempt failed; retrying");
        })
        .await;
        (result, made.load(Ordering::SeqCst))
    }

    /// How long a claim holds a delivery: every attempt, every pause, and a minute.
    fn lease(&self) -> SignedDuration {
        let s = &self.settings;
        let attempts = u64::try_from(s.attempts).unwrap_or(u64::MAX);
        seconds(
            attempts
                .saturating_mul(s.timeout_seconds.saturating_add(s.max_backoff_seconds))
                .saturating_add(60),
        )
    }

    fn give_up(&self) -> SignedDuration {
        seconds(self.settings.give_up_minutes.saturating_mul(60))
    }

    async fn count_backlog(&self) {
        match self.store.page_backlog().await {
            Ok((pending, failed)) => self.metrics.pages_undelivered(pending, failed),
            Err(err) => tracing::debug!(error = %err, "could not count undelivered pages"),
        }
    }
}

fn seconds(s: u64) -> SignedDuration {
    SignedDuration::from_secs(i64::try_from(s).unwrap_or(i64::MAX))
}

fn decode(record: &PageRecord) -> Result<Delivery, String> {
    let page: Page = serde_json::from_value(record.page.clone())
        .map_err(|e| format!("the stored page does not decode: {e}"))?;
    let Some(event) = EventKind::parse(&record.event) else {
        return Err(format!("{:?} is not a page event", record.event));
    };
    Ok(Delivery {
        dedup_key: record.dedup_key.clone(),
        page: Page { event, ..page },
    })
}

/// The dedup key of a new trigger to `pager`: the incident id, or — once a human has
/// acknowledged it there — a fresh key, because PagerDuty folds a trigger into an open
/// acknowledged alert of the same key without paging anyone.
fn trigger_key(incident: &str, pager: &str, prior: &[PageRecord]) -> String {
    let mine = prior.iter().filter(|p| p.pager == pager);
    let acknowledged = mine.clone().filter(|p| p.event == "acknowledge").count();
    if acknowledged == 0 {
        return incident.to_owned();
    }
    let latest = mine
        .filter(|p| p.event == "trigger")
        .map(|p| p.dedup_key.clone())
        .next_back()
        .unwrap_or_else(|| incident.to_owned());
    let acked_latest = prior
        .iter()
        .any(|p| p.pager == pager && p.event == "acknowledge" && p.dedup_key == latest);
    if acked_latest {
        format!("{incident}/{acknowledged}")
    } else {
        latest
    }
}

/// Each pager an incident's own trigger went to (not folded into a group), with each distinct
/// dedup key used there: acknowledge and resolve go to exactly those.
fn triggered(prior: &[PageRecord]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for p in prior {
        let own = p.event == "trigger"
            && p.status != PageStatus::Grouped
            && !p.intent.starts_with("group:");
        let pair = (p.pager.clone(), p.dedup_key.clone());
        if own && !out.contains(&pair) {
            out.push(pair);
        }
    }
    out
}
