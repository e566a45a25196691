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
        let gatherer = LiveGatherer(collect::live_gatherer(client.clone(), &settings.prometheus));
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
        let listen = self.listen.or(settings.http.listen);
        // Approval links are signed only where they can be answered: with the front door on.
        let keys = match listen {
            Some(_) => Some(link_keys(&settings, &self.store)?),
            None => None,
        };
        let links: Arc<dyn crate::pagers::PageLinks> = match (&keys, settings.public_url.as_deref())
        {
            (Some(keys), Some(url)) => Arc::new(crate::links::LinkSigner::new(
                keys.clone(),
                url,
                settings.links.valid_for,
            )),
            _ => Arc::new(crate::pagers::IncidentLinksOnly::new(
                settings.public_url.as_deref(),
            )),
        };
        let pager = crate::pagers::dispatcher_from_settings(
            &settings,
            links,
            self.store.clone(),
            metrics.clone(),
            crate::engine::system_clock(),
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        if let Some(pager) = &pager {
            tokio::spawn(pager.clone().run(shutdown.clone()));
        } else {
            tracing::info!("no pagers configured: a plan that needs a human is only logged");
        }
        let engine = Engine::with_pager(
            Parts {
                store: self.store.clone(),
                rules: rules.clone(),
                policy: settings.policy.clone(),
                executor: Executor::new(self.client.clone()),
                gatherer: self.gatherer,
                verifier: self.verifier,
                settings: crate::engine::EngineSettings {
                    approvers: settings.approvers.clone(),
                    ..settings.engine.clone()
                },
                clock: crate::engine::system_clock(),
                metrics: metrics.clone(),
            },
            pager,
        );
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
        let http = match (listen, keys) {
            (Some(addr), Some(keys)) => Some(
                front_door(
                    addr,
                    &settings,
                    health,
                    &engine,
                    &investigator,
                    keys,
                    http_stop.clone(),
                )
                .await?,
            ),
            _ => None,
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

/// The approval links' keys (environment, key file, or one generated beside a SQLite store),
/// and where they came from, said at start-up.
fn link_keys(settings: &Settings, store: &Store) -> Result<crate::links::token::Keyring> {
    let (keys, source) = crate::links::keys::load(
        |k| std::env::var(k).ok(),
        settings.links.key_file.as_deref(),
        store,
    )
    .map_err(|e| anyhow::anyhow!("approval links: {e}"))?;
    tracing::info!(key = keys.signing_id(), "approval link keys {source}");
    Ok(keys)
}

/// Starts the HTTP front door and says at start-up how callers authenticate.
async fn front_door(
    addr: SocketAddr,
    settings: &Settings,
    health: Health,
    engine: &Engine,
    investigator: &crate::investigate::Investigator,
    keys: crate::links::token::Keyring,
    stop: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>> {
    let auth = crate::http::Auth::load(&settings.http, |k| std::env::var(k).ok())
        .map_err(|e| anyhow::anyhow!(e))?;
    if !auth.required || !auth.has_credentials() {
        tracing::warn!("{}", auth.describe());
    } else {
        tracing::info!("{}", auth.describe());
    }
    let auth = Arc::new(auth);
    let links = crate::links::http::router(crate::links::http::Links::new(
        engine.store().clone(),
        keys,
        settings.approvers.clone(),
    ));
    let app = crate::http::app(crate::http::Parts {
        auth: auth.clone(),
        max_body_bytes: settings.http.max_body_bytes,
        health,
        webhooks: Webhooks {
            engine: engine.clone(),
            watch: settings.watch.clone(),
        },
        investigator: Some(investigator.clone()),
    });
    let app = crate::http::with_links(app, links, auth, settings.http.max_body_bytes);
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
