//! Hot reload of rules and playbooks. The directories are watched for changes to their files;
//! opening or reading a file (as the reload itself does, or an operator's `cat`) is no change
//! and is ignored, and a burst of changes is taken as one. Then the files' digest decides: only
//! when their contents changed is the set reloaded and audited (`rules.reloaded`, or
//! `rules.reload_failed` with the previous good set kept) — once per change, never in a loop.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result};
use jiff::Timestamp;
use notify_debouncer_mini::notify::{self, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::rules::{Reload, RuleSet, RulesHolder};
use crate::store::Store;
use crate::telemetry::Metrics;

/// Changes closer together than this are one change.
const QUIET: Duration = Duration::from_millis(300);

/// Watches the rule and playbook directories while it lives.
pub struct RulesWatcher {
    _watcher: RecommendedWatcher,
}

/// Watches `holder`'s directories and reloads into `current` when their contents change, until
/// `shutdown`. A reloaded rule's metric series exist from then on, at zero, in `metrics`. Every
/// check's result is also sent to `observer`, if given, after it is audited.
pub fn watch_rules(
    mut holder: RulesHolder,
    current: Arc<Mutex<Arc<RuleSet>>>,
    store: Store,
    metrics: Metrics,
    shutdown: CancellationToken,
    observer: Option<mpsc::UnboundedSender<Reload>>,
) -> Result<RulesWatcher> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            // Opening, reading and closing a file change nothing.
            Ok(event) if matches!(event.kind, EventKind::Access(_)) => {}
            Ok(_) => {
                let _ = tx.send(());
            }
            Err(err) => tracing::warn!(error = %err, "rules file watcher error"),
        }
    })
    .context("starting the rules file watcher")?;
    // Only directories it was given: built-in defaults never change.
    for dir in holder.dirs() {
        watcher
            .watch(dir, RecursiveMode::Recursive)
            .with_context(|| format!("watching {}", dir.display()))?;
    }
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                event = rx.recv() => if event.is_none() { break },
            }
            // Let a burst of changes (an editor's write, rename and chmod) settle.
            while let Ok(Some(())) = tokio::time::timeout(QUIET, rx.recv()).await {}
            let outcome = reload(&mut holder, &current, &store, &metrics).await;
            if let Some(observer) = &observer {
                let _ = observer.send(outcome);
            }
        }
    });
    Ok(RulesWatcher { _watcher: watcher })
}

/// Reloads if the files changed; audits a reload or a failed one.
async fn reload(
    holder: &mut RulesHolder,
    current: &Mutex<Arc<RuleSet>>,
    store: &Store,
    metrics: &Metrics,
) -> Reload {
    let outcome = holder.reload_if_changed();
    let (kind, detail) = match &outcome {
        Reload::Unchanged => {
            tracing::debug!("rules directories touched; contents unchanged");
            return outcome;
        }
        Reload::Reloaded => {
            let set = holder.current();
            let count = set.rules.len();
            // A new rule's series exist before its first incident, as at start-up.
            for rule in &set.rules {
                metrics.add_rule(&rule.rule.name);
            }
            *current.lock().unwrap_or_else(PoisonError::into_inner) = set;
            tracing::info!(rules = count, "rules reloaded");
            ("rules.reloaded", json!({"rules": count}))
        }
        Reload::Failed(errors) => {
            tracing::error!(%errors, "rules reload failed; keeping the previous good set");
            (
                "rules.reload_failed",
                json!({"errors": errors.to_string(), "kept": "previous"}),
            )
        }
    };
    if let Err(err) = store
        .append_audit(None, kind, "nightshift", &detail, Timestamp::now())
        .await
    {
        tracing::warn!(error = %err, "could not audit a rules reload");
    }
    outcome
}
