//! `nightshift investigate KIND/NAME`: the request checked before anything is opened, the
//! engine built over the cluster and the store, the investigation run (never executed), and
//! the incident printed as its report (Markdown) or as `incidents show` prints it (JSON).

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Result;

use crate::cli::{InvestigateArgs, ReportFormat, rule_dirs};
use crate::config::Settings;
use crate::engine::live::{LiveGatherer, LiveVerifier};
use crate::engine::{Engine, Parts, system_clock};
use crate::investigate::{Investigator, Request};
use crate::k8s::execute::Executor;
use crate::k8s::{collect, verify};
use crate::rules::RuleSet;

/// Runs `nightshift investigate`.
pub(super) async fn investigate(
    args: InvestigateArgs,
    settings: &Settings,
    out: &mut impl Write,
) -> Result<ExitCode> {
    // A malformed request is refused before the store or the cluster is touched.
    let request = Request::parse(&args.object, args.namespace, args.question)?;
    request.target()?;
    let (rules_dir, playbooks_dir) = rule_dirs(&args.dirs, settings)?;
    let rules = RuleSet::load_from(rules_dir.as_deref(), playbooks_dir.as_deref())?;
    let rules = Arc::new(Mutex::new(Arc::new(rules)));
    let store = super::connect(args.store.store, settings).await?;
    let client = crate::daemon::client(args.kubeconfig.as_deref()).await?;
    let engine = Engine::new(Parts {
        store: store.clone(),
        rules: rules.clone(),
        policy: settings.policy.clone(),
        // Never called: an investigation stops before execution.
        executor: Executor::new(client.clone()),
        gatherer: Arc::new(LiveGatherer(collect::live_gatherer(
            client.clone(),
            &settings.prometheus,
        ))),
        verifier: Arc::new(LiveVerifier(verify::Verifier::new(client.clone()))),
        settings: settings.engine.clone(),
        clock: system_clock(),
        // Nothing serves them: a one-shot investigation counts for no scrape.
        metrics: crate::telemetry::Metrics::new(std::iter::empty::<&str>()),
    });
    let investigator = Investigator::new(engine, client, store.clone(), rules, system_clock());
    let answer = investigator.investigate(request).await?;
    if !answer.opened {
        eprintln!(
            "{} already had open incident {}: it answers (your question is in its audit log)",
            answer.record.incident.scope(),
            answer.record.incident.id
        );
    }
    let text = match args.format {
        ReportFormat::Json => serde_json::to_string_pretty(&answer.record)?,
        ReportFormat::Md => crate::report::render(&answer.record, crate::report::Format::Markdown)?,
        ReportFormat::Html => crate::report::render(&answer.record, crate::report::Format::Html)?,
    };
    writeln!(out, "{text}")?;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
