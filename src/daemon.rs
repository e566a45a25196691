//! `nightshift run`: the daemon. Connects to the store and the cluster, starts the watchers and
//! the engine, hot-reloads rules when their contents change ([`watch_rules`]; a reload with
//! errors keeps the previous good set and says so), serves the HTTP front door
//! ([`crate::http`]: probes and `/metrics` open; Alertmanager's webhook, the incident pages and
//! investigations behind authentication) on `--listen` or `http.listen`, and shuts down on one
//! cancellation token.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::engine::live::{LiveGatherer, LiveVerifier};
use crate::engine::{Engine, Gatherer, Parts, Verifier};
use crate::http::alertmanager::Webhooks;
use crate::http::health::Health;
use crate::k8s::execute::Executor;
use crate::k8s::watch;
use crate::k8s::{collect, verify};
use crate::rules::RulesHolder;
use crate::telemetry::Metrics;

mod reload;

use crate::store::Store;
pub use reload::{RulesWatcher, watch_rules};

/// Signals queued between the watchers and the engine; a full queue slows the watchers down
/// (back-pressure) rather than dropping signals.
const SIGNAL_QUEUE: usize = 4096;

/// Everything the daemon needs, built by the caller (the CLI, the demo, tests).
pub struct Daemon {
    /// Settings.
    pub settings: Settings,
    /// The cluster.
    pub client: kube::Client,
    /// The store.
    pub store: Store,
    /// Evidence from the cluster.
    pub gatherer: Arc<dyn Gatherer>,
    /// Verification against the cluster.
    pub verifier: Arc<dyn Verifier>,
    /// Where to serve the HTTP front door (probes, `/metrics`, webhook, pages, investigations),
    /// if anywhere; `http.listen` when unset.
    pub listen: Option<SocketAddr>,
}

/// A kube client from a kubeconfig file, or the in-cluster / `KUBECONFIG` configuration.
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &Default::default())
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig given and no in-cluster or KUBECONFIG configuration found")?,
    };
    kube::Client::try_from(config).context("building the Kubernetes client")
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM (drain, then stop); a second one exits at
/// once.
pub fn shutdown_on_signals(shutdown: CancellationToken) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    tokio::spawn(async move {
        let mut first = true;
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            if !first {
                tracing::warn!("second signal: stopping now");
                std::process::exit(130);
            }
            first = false;
            tracing::info!(
                "shutting down: draining in-flight incidents (signal again to stop now)"
            );
            shutdown.cancel();
        }
    });
    Ok(())
}

impl Daemon {
    /// The daemon against a live cluster: the live gatherer and verifier over `client`.
    pub fn live(
        settings: Settings,
        client: kube::Client,
        store: Store,
        listen: Option<SocketAddr>,
    ) -> Daemon {
        let gatherer = LiveGatherer(collect::Gatherer::new(client.clone()));
        let verifier = LiveVerifier(verify::Verifier::new(client.clone()));
        Daemon {
            settings,
            client,
            store,
            gatherer: Arc::new(gatherer),
            verifier: Arc::new(verifier),
            listen,
        }
    }

    /// Runs until `shutdown` is cancelled. Returns the engine (already running) through
    /// `on_start` so callers such as the demo can subscribe to its progress.
    pub async fn run(
        self,
        shutdown: CancellationToken,
        on_start: impl FnOnce(&Engine),
    ) -> Result<()> {
        let settings = self.settings;
        let holder =
            RulesHolder::load_from(settings.rules.as_deref(), settings.playbooks.as_deref())
                .map_err(|errors| anyhow::anyhow!("rules do not load:\n{errors}"))?;
        let rules = Arc::new(Mutex::new(holder.current()));
        let current = holder.current();
        let metrics = Metrics::new(current.rules.iter().map(|r| r.rule.name.as_str()));
        let store = self.store.clone();
        let reloader = watch_rules(
            holder,
            rules.clone(),
            store,
            metrics.clone(),
            shutdown.clone(),
            None,
        )?;
        let engine = Engine::new(Parts {
            store: self.store.clone(),
            rules: rules.clone(),
            policy: settings.policy.clone(),
            executor: Executor::new(self.client.clone()),
            gatherer: self.gatherer,
            verifier: self.verifier,
            settings: settings.engine.clone(),
            clock: crate::engine::system_clock(),
            metrics: metrics.clone(),
        });
        on_start(&engine);
        let investigator = crate::investigate::Investigator::new(
            engine.clone(),
            self.client.clone(),
            self.store.clone(),
            rules,
            crate::engine::system_clock(),
        );
        let (sink, signals) = mpsc::channel(SIGNAL_QUEUE);
        let synced = watch::Synced::default();
        let watchers = tokio::spawn(watch::run_reporting(
            self.client.clone(),
            settings.watch.clone(),
            sink,
            shutdown.clone(),
            synced.clone(),
        ));
        // The HTTP server outlives the drain, so readiness can say "draining".
        let http_stop = CancellationToken::new();
        let health = Health {
            synced,
            draining: shutdown.clone(),
        };
        let http = match self.listen.or(settings.http.listen) {
            Some(addr) => Some(
                front_door(
                    addr,
                    &settings,
                    health,
                    &engine,
                    &investigator,
                    http_stop.clone(),
                )
                .await?,
            ),
            None => None,
        };
        tracing::info!(store = %self.store.location(), "nightshift is watching");
        match self.store.paused().await {
            Ok(Some(pause)) => {
                tracing::warn!(%pause, "nightshift is paused: plans are held until `nightshift resume`")
            }
            Ok(None) if settings.engine.paused => {
                tracing::warn!("engine.paused is set: plans are held")
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %err, "could not read the kill switch; it is read again before every action")
            }
        }
        engine.run(signals, shutdown.clone()).await;
        watchers.await.ok();
        http_stop.cancel();
        if let Some(http) = http {
            http.await.ok();
        }
        drop(reloader);
        self.store.close().await;
        Ok(())
    }
}

/// Starts the HTTP front door and says at start-up how callers authenticate.
async fn front_door(
    addr: SocketAddr,
    settings: &Settings,
    health: Health,
    engine: &Engine,
    investigator: &crate::investigate::Investigator,
    stop: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>> {
    let auth = crate::http::Auth::load(&settings.http, |k| std::env::var(k).ok())
        .map_err(|e| anyhow::anyhow!(e))?;
    if !auth.required || !auth.has_credentials() {
        tracing::warn!("{}", auth.describe());
    } else {
        tracing::info!("{}", auth.describe());
    }
    let app = crate::http::app(crate::http::Parts {
        auth: Arc::new(auth),
        max_body_bytes: settings.http.max_body_bytes,
        health,
        webhooks: Webhooks {
            engine: engine.clone(),
            watch: settings.watch.clone(),
        },
        investigator: Some(investigator.clone()),
    });
    let (bound, task) = match &settings.http.tls {
        Some(tls) => crate::http::tls::serve(addr, app, crate::http::tls::load(tls)?, stop).await?,
        None => crate::http::serve(addr, app, stop).await?,
    };
    let scheme = if settings.http.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(%bound, scheme, "HTTP front door listening");
    Ok(task)
}
