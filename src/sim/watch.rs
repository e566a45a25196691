//! Watches: a chunked stream of newline-delimited `{"type": ..., "object": ...}` events that
//! replays history after the requested resourceVersion, then follows new writes.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use futures::Stream;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::SimCluster;
use super::errors::ApiError;
use super::meta;
use super::resources::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::store::{EventType, Since, StoredEvent};
use super::table::TableRenderer;

/// The most events sent in one chunk.
const MAX_EVENTS_PER_CHUNK: usize = 500;

/// What a watch asks for.
pub struct WatchRequest {
    /// The resource type.
    pub rt: &'static ResourceType,
    /// One namespace, or every one.
    pub namespace: Option<String>,
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `resourceVersion`: `None` (or 0) starts with synthetic ADDED events for current objects.
    pub resource_version: Option<u64>,
    /// `sendInitialEvents=true`: synthetic ADDED events, then a bookmark marking their end.
    pub send_initial_events: bool,
    /// `allowWatchBookmarks=true`.
    pub bookmarks: bool,
    /// `timeoutSeconds`.
    pub timeout: Duration,
    /// Render objects as `meta.k8s.io/v1` Table rows (kubectl `get -w`).
    pub table: Option<TableRenderer>,
}

#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    object: &'a Value,
}

struct Cursor {
    cluster: SimCluster,
    req: WatchRequest,
    /// Every event up to this resourceVersion has been sent or filtered out.
    rv: u64,
    changes: watch::Receiver<u64>,
    deadline: Instant,
    shutdown: CancellationToken,
    pending: Option<Bytes>,
    done: bool,
}

impl WatchRequest {
    fn visible(&self, obj: &Value) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| meta::namespace(obj) == ns)
            && self.labels.matches(obj)
            && self.fields.matches(obj)
    }

    fn push_line(&self, out: &mut Vec<u8>, kind: &str, obj: &Value) {
        let rendered;
        let object = match &self.table {
            Some(t) => {
                rendered = t.render_one(obj);
                &rendered
            }
            None => obj,
        };
        if serde_json::to_writer(&mut *out, &Line { kind, object }).is_ok() {
            out.push(b'\n');
        }
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Value {
        let mut metadata = json!({ "resourceVersion": rv.to_string() });
        if initial_end {
            metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        json!({ "kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": metadata })
    }

    /// The event this watcher sees for a stored change, if any (selector-aware).
    fn translate<'e>(&self, ev: &'e StoredEvent) -> Option<(&'static str, &'e Value)> {
        let now = self.visible(&ev.object);
        let before = ev.previous.as_deref().is_some_and(|p| self.visible(p));
        let kind = match (ev.kind, before, now) {
            (EventType::Added, _, true) => EventType::Added,
            (EventType::Deleted, _, true) => EventType::Deleted,
            (EventType::Modified, true, true) => EventType::Modified,
            (EventType::Modified, false, true) => EventType::Added,
            (EventType::Modified, true, false) => EventType::Deleted,
            _ => return None,
        };
        Some((kind.as_str(), &ev.object))
    }
}

/// Starts a watch: the initial chunk is computed now, under the store lock, so nothing
/// written afterwards can be missed.
pub fn start(
    cluster: SimCluster,
    req: WatchRequest,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let (rv, changes, pending, done) = {
        let store = cluster.store();
        let changes = store.subscribe();
        let mut out = Vec::new();
        let (rv, done) = match req.resource_version.filter(|rv| *rv > 0) {
            Some(rv) if !req.send_initial_events => match store.events_since(req.rt, rv) {
                Since::Expired(floor) => {
                    let status = ApiError::expired(rv, floor).to_status();
                    req.push_line(&mut out, "ERROR", &status);
                    (rv, true)
                }
                Since::Events(_) => (rv, false),
            },
            _ => {
                for obj in store.list(req.rt, req.namespace.as_deref()) {
                    if req.visible(&obj) {
                        req.push_line(&mut out, "ADDED", &obj);
                    }
                }
                let rv = store.resource_version();
                if req.send_initial_events && req.bookmarks {
                    let bookmark = req.bookmark(rv, true);
                    req.push_line(&mut out, "BOOKMARK", &bookmark);
                }
                (rv, false)
            }
        };
        (
            rv,
            changes,
            (!out.is_empty()).then(|| Bytes::from(out)),
            done,
        )
    };
    let deadline = Instant::now() + req.timeout;
    let cursor = Cursor {
        cluster,
        req,
        rv,
        changes,
        deadline,
        shutdown,
        pending,
        done,
    };
    futures::stream::unfold(cursor, |mut c| async move {
        let chunk = c.next_chunk().await?;
        Some((Ok(chunk), c))
    })
}

impl Cursor {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(chunk) = self.pending.take() {
            return Some(chunk);
        }
        if self.done {
            return None;
        }
        loop {
            self.changes.borrow_and_update();
            let (chunk, caught_up) = self.poll_history();
            if chunk.is_some() {
                return chunk;
            }
            if self.done {
                return None;
            }
            if !caught_up {
                continue;
            }
            tokio::select! {
                changed = self.changes.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                () = tokio::time::sleep_until(self.deadline) => {
                    self.done = true;
                    if !self.req.bookmarks {
                        return None;
                    }
                    let mut out = Vec::new();
                    self.req.push_line(&mut out, "BOOKMARK", &self.req.bookmark(self.rv, false));
                    return Some(Bytes::from(out));
                }
                () = self.shutdown.cancelled() => return None,
            }
        }
    }

    /// Events after the cursor as one chunk (`None` when there is nothing to send), and
    /// whether the cursor has caught up with the store.
    fn poll_history(&mut self) -> (Option<Bytes>, bool) {
        let (events, latest) = {
            let store = self.cluster.store();
            (
                store.events_since(self.req.rt, self.rv),
                store.resource_version(),
            )
        };
        let mut out = Vec::new();
        let mut caught_up = true;
        match events {
            Since::Expired(floor) => {
                let status = ApiError::expired(self.rv, floor).to_status();
                self.req.push_line(&mut out, "ERROR", &status);
                self.done = true;
            }
            Since::Events(events) => {
                let more = events.len() > MAX_EVENTS_PER_CHUNK;
                for ev in events.iter().take(MAX_EVENTS_PER_CHUNK) {
                    if let Some((kind, obj)) = self.req.translate(ev) {
                        self.req.push_line(&mut out, kind, obj);
                    }
                    self.rv = ev.rv;
                }
                if more {
                    caught_up = false;
                } else {
                    self.rv = self.rv.max(latest);
                }
            }
        }
        ((!out.is_empty()).then(|| Bytes::from(out)), caught_up)
    }
}
