//! What each subcommand does: load settings and rules, call the library, print.

mod investigate;
mod pause;

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::{
    AnswerArgs, AuditCommand, Cli, Command, IncidentsCommand, RbacArgs, ReplayArgs, ReplayFormat,
    ReportFormat, RulesCommand, SchemaKind, SimCommand, expand_cases, rule_dirs,
};
use crate::config::Settings;
use crate::replay::{Case, check_expect, run, to_json, to_text};
use crate::rules::RuleSet;
use crate::store::{Decision, Store, printable_url};
use pause::Switch;

/// Runs a parsed command line.
pub async fn run_cli(cli: Cli) -> Result<ExitCode> {
    let settings = Settings::load(cli.config.as_deref())?;
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Rules {
            command: RulesCommand::Check(dirs),
        } => {
            let (rules, playbooks) = rule_dirs(&dirs, &settings)?;
            match RuleSet::load_from(rules.as_deref(), playbooks.as_deref()) {
                Ok(set) => {
                    writeln!(
                        stdout,
                        "ok: {} rules, {} playbooks",
                        set.rules.len(),
                        set.playbooks.len()
                    )?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    for e in &errors.0 {
                        eprintln!("{e}");
                    }
                    eprintln!("{} problem(s)", errors.0.len());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Rules {
            command: RulesCommand::Init { dir, force },
        } => {
            let written = crate::rules::defaults::write(&dir, force)?;
            for file in &written {
                writeln!(stdout, "wrote {}", file.display())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay(args) => replay(args, &settings).await,
        Command::Investigate(args) => investigate::investigate(args, &settings, &mut stdout).await,
        Command::Incidents {
            command: IncidentsCommand::List { limit, store },
        } => {
            let store = connect(store.store, &settings).await?;
            if let Some(pause) = store.paused().await? {
                eprintln!(
                    "nightshift is {pause}: nothing is sent to the cluster until `nightshift resume`"
                );
            }
            for i in store.list_incidents(limit).await? {
                writeln!(
                    stdout,
                    "{}  {:<18} {:<8} {:<28} {}",
                    i.id,
                    i.state,
                    i.severity.as_str(),
                    i.rule,
                    i.target
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Incidents {
            command: IncidentsCommand::Show { id, store },
        } => {
            let store = connect(store.store, &settings).await?;
            let record = store
                .load(&id)
                .await?
                .with_context(|| format!("no incident {id}"))?;
            writeln!(stdout, "{}", serde_json::to_string_pretty(&record)?)?;
            print_links(&record, &store, &settings)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Incidents {
            command: IncidentsCommand::Approve(args),
        } => answer(args, Decision::Approved, &settings, &mut stdout).await,
        Command::Incidents {
            command: IncidentsCommand::Deny(args),
        } => answer(args, Decision::Denied, &settings, &mut stdout).await,
        Command::Rbac(args) => rbac(args, &settings, &mut stdout).await,
        Command::Demo { dir } => {
            let paths = crate::demo::DemoPaths::in_dir(&dir);
            crate::demo::run(settings, &paths, &mut stdout).await
        }
        Command::Run {
            kubeconfig,
            listen,
            store,
            dirs,
        } => {
            let mut settings = settings;
            (settings.rules, settings.playbooks) = rule_dirs(&dirs, &settings)?;
            let store = connect(store.store, &settings).await?;
            let client = crate::daemon::client(kubeconfig.as_deref()).await?;
            let shutdown = tokio_util::sync::CancellationToken::new();
            crate::daemon::shutdown_on_signals(shutdown.clone())?;
            crate::daemon::Daemon::live(settings, client, store, listen)
                .run(shutdown, |_| {})
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { id, format, store } => {
            let store = connect(store.store, &settings).await?;
            let record = store
                .load(&id)
                .await?
                .with_context(|| format!("no incident {id}"))?;
            let format = match format {
                ReportFormat::Md => crate::report::Format::Markdown,
                ReportFormat::Html => crate::report::Format::Html,
                ReportFormat::Json => crate::report::Format::Json,
            };
            writeln!(stdout, "{}", crate::report::render(&record, format)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Pause(args) => {
            let switch = Switch::new(true, &args.actor, &args.reason)?;
            switch.run(args.store, &settings, &mut stdout).await
        }
        Command::Resume(args) => {
            let switch = Switch::new(false, &args.actor, &args.reason)?;
            switch.run(args.store, &settings, &mut stdout).await
        }
        Command::Audit {
            command: AuditCommand::Verify(store),
        } => {
            let store = connect(store.store, &settings).await?;
            let report = store.verify_audit().await?;
            match &report.first_broken {
                None => {
                    writeln!(stdout, "audit log intact: {} rows verified", report.rows)?;
                    Ok(ExitCode::SUCCESS)
                }
                Some(broken) => {
                    eprintln!(
                        "audit log TAMPERED at row {}: {}",
                        broken.seq, broken.reason
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Sim {
            command:
                SimCommand::Serve {
                    listen,
                    kubeconfig,
                    scenario,
                },
        } => {
            sim_serve(listen, &kubeconfig, scenario.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema { which } => {
            let schema = match which {
                SchemaKind::Rules => schemars::schema_for!(crate::domain::rule::RuleFile),
                SchemaKind::Playbook => schemars::schema_for!(crate::domain::playbook::Playbook),
                SchemaKind::Config => schemars::schema_for!(Settings),
            };
            writeln!(stdout, "{}", serde_json::to_string_pretty(&schema)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            cases,
            iterations,
            detect,
            webhook,
            requests,
            connections,
            pods,
            changes,
            rss_pods,
            approve,
            approvals,
            poll_millis,
            pages,
            dirs,
        } => {
            let (rules_dir, playbooks_dir) = rule_dirs(&dirs, &settings)?;
            let rules = RuleSet::load_from(rules_dir.as_deref(), playbooks_dir.as_deref())?;
            if approve {
                let case = cases.first().cloned().unwrap_or_else(|| {
                    "fixtures/incidents/payments-api-missing-deploy-env-after-v2-3-1".into()
                });
                let report =
                    crate::bench::approve::latency(case.as_ref(), rules, approvals, poll_millis)
                        .await?;
                print!("{report}");
                return Ok(ExitCode::SUCCESS);
            }
            if let Some(n) = pages {
                let dir = cases.first().cloned().unwrap_or_else(|| {
                    "fixtures/incidents/payments-api-missing-deploy-env-after-v2-3-1".into()
                });
                let case = Case::load(&dir)?;
                print!("{}", crate::bench::pages::latency(&case, rules, n).await?);
                return Ok(ExitCode::SUCCESS);
            }
            if webhook {
                print!(
                    "{}",
                    crate::bench::webhook::ingest(rules, requests, connections).await?
                );
                return Ok(ExitCode::SUCCESS);
            }
            if detect {
                print!(
                    "{}",
                    crate::bench::detect::latency(pods, changes, rules).await?
                );
                if let Some(n) = rss_pods {
                    let report = crate::bench::detect::rss(
                        n,
                        rules_dir.as_deref(),
                        playbooks_dir.as_deref(),
                    )
                    .await?;
                    print!("{report}");
                }
                return Ok(ExitCode::SUCCESS);
            }
            let cases = if cases.is_empty() {
                vec!["fixtures/incidents".into()]
            } else {
                cases
            };
            let loaded: Vec<Case> = expand_cases(&cases)
                .iter()
                .map(|d| Case::load(d))
                .collect::<Result<_, _>>()?;
            print!(
                "{}",
                crate::bench::run(&loaded, &rules, &settings.policy, iterations)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn explain(outcome: &crate::replay::Outcome, rules: &RuleSet, now: jiff::Timestamp) -> String {
    use std::fmt::Write as _;
    let Some(i) = &outcome.incident else {
        return String::new();
    };
    let heuristics = rules
        .playbook(&i.playbook)
        .map(|p| p.heuristics.as_slice())
        .unwrap_or_default();
    let analysis = crate::diagnose::analyse(&i.signal, &i.evidence, heuristics, now);
    let mut out = String::new();
    for f in &analysis.findings {
        let _ = writeln!(
            out,
            "  finding   {:<22} {:.2}  {}  [{}]",
            f.category.as_str(),
            f.weight,
            f.note,
            f.evidence
        );
    }
    if let Some((id, r)) = &analysis.rollout {
        let _ = writeln!(
            out,
            "  rollout   score {:.2} rev {} (prev {}) age {:#} incomplete={} failing_in_newest={} previous_healthy={} [{id}]",
            r.score,
            r.revision,
            r.previous,
            r.age,
            r.incomplete,
            r.failing_in_newest,
            r.previous_healthy
        );
        let _ = writeln!(out, "  changes   {}", r.changes.join("; "));
    }
    for c in crate::domain::corroborate::assess_plan(&i.plan, &i.evidence, now) {
        let _ = writeln!(out, "  corroboration {}", c.describe());
    }
    out
}

async fn sim_serve(
    listen: std::net::SocketAddr,
    kubeconfig: &std::path::Path,
    scenario: Option<&std::path::Path>,
) -> Result<()> {
    anyhow::ensure!(
        listen.ip().is_loopback(),
        "the simulated cluster listens on loopback only, not {listen}"
    );
    let cluster = crate::sim::SimCluster::new();
    let mut running = None;
    if let Some(path) = scenario {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        if crate::sim::scenario::is_object_yaml(&text) {
            cluster
                .apply_yaml(&text)
                .with_context(|| format!("loading {}", path.display()))?;
        } else {
            let loaded = crate::sim::scenario::Scenario::from_yaml(&text, path)?;
            loaded.install(&cluster)?;
            running = Some(loaded);
        }
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    crate::sim::write_kubeconfig(kubeconfig, &url)
        .with_context(|| format!("writing {}", kubeconfig.display()))?;
    eprintln!(
        "simulated cluster at {url}; kubeconfig {}; Ctrl-C stops it",
        kubeconfig.display()
    );
    let shutdown = tokio_util::sync::CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });
    if let Some(loaded) = &running {
        loaded.start(&cluster, shutdown.clone());
        eprintln!(
            "scenario {}: controllers running, timeline started",
            loaded.path().display()
        );
    }
    crate::sim::serve(cluster, listener, shutdown).await?;
    Ok(())
}

async fn answer(
    args: AnswerArgs,
    decision: Decision,
    settings: &Settings,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let store = connect(args.store.store, settings).await?;
    let now = jiff::Timestamp::now();
    let operator = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let (actor, checked) = match &args.actor {
        Some(actor) if actor.trim().is_empty() => anyhow::bail!("--as: give a user name"),
        Some(actor) => (actor.trim().to_owned(), true),
        None => (operator, false),
    };
    let request = crate::approval::Request {
        id: &args.id,
        plan_hash: args.plan.as_deref(),
        decision,
        actor: &actor,
        groups: &[],
        checked,
        reason: args
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty()),
        nonce: None,
        via: "cli",
    };
    let answered = crate::approval::answer_with(&store, &settings.approvers, &request, now).await?;
    match answered {
        crate::approval::Answered::Recorded(hash) => writeln!(
            out,
            "{} {} plan {hash} as {actor}",
            args.id,
            decision.as_str(),
        )?,
        crate::approval::Answered::Awaiting { hash, have, need } => writeln!(
            out,
            "{} approval of plan {hash} recorded as {actor}: {have} of {need} distinct approvers; \
             it runs once another approver approves it",
            args.id,
        )?,
        crate::approval::Answered::AlreadyDecided { hash, actor, at } => writeln!(
            out,
            "{} plan {hash} was already {} by {actor} at {at}; nothing recorded",
            args.id,
            decision.as_str(),
        )?,
        crate::approval::Answered::LinkUsed { actor, at, .. } => writeln!(
            out,
            "{} that link was already used by {actor} at {at}; nothing recorded",
            args.id,
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

/// For an incident awaiting approval, with `public_url` set: its approve and deny links, on
/// stderr (stdout stays the record's JSON).
fn print_links(
    record: &crate::store::IncidentRecord,
    store: &Store,
    settings: &Settings,
) -> Result<()> {
    let (Some(public_url), Some(plan)) = (&settings.public_url, record.plans.last()) else {
        return Ok(());
    };
    if record.incident.state != crate::domain::incident::IncidentState::AwaitingApproval {
        return Ok(());
    }
    let (keys, _) = crate::links::keys::load(
        |k| std::env::var(k).ok(),
        settings.links.key_file.as_deref(),
        store,
    )
    .map_err(|e| anyhow::anyhow!("approval links: {e}"))?;
    let signer = crate::links::LinkSigner::new(keys, public_url, settings.links.valid_for);
    let id = &record.incident.id;
    eprintln!("approve: {}", signer.approve_url(id, &plan.hash));
    eprintln!("deny:    {}", signer.deny_url(id, &plan.hash));
    Ok(())
}

async fn connect(flag: Option<String>, settings: &Settings) -> Result<Store> {
    let url = flag.unwrap_or_else(|| settings.store.clone());
    Store::connect(&url)
        .await
        .with_context(|| format!("opening store {}", printable_url(&url)))
}

async fn replay(args: ReplayArgs, settings: &Settings) -> Result<ExitCode> {
    let (rules_dir, playbooks_dir) = rule_dirs(&args.dirs, settings)?;
    let rules = RuleSet::load_from(rules_dir.as_deref(), playbooks_dir.as_deref())?;
    let store = match &args.record {
        Some(url) => Some(
            Store::connect(url)
                .await
                .with_context(|| format!("opening store {}", printable_url(url)))?,
        ),
        None => None,
    };
    let mut unreadable = 0;
    let (mut expected, mut met) = (0, 0);
    let mut out = std::io::stdout().lock();
    for dir in expand_cases(&args.cases) {
        let case = match Case::load(&dir) {
            Ok(case) => case,
            Err(err) => {
                eprintln!("error: {err}");
                unreadable += 1;
                continue;
            }
        };
        let outcome = run(&case, &rules, &settings.policy);
        match args.format {
            ReplayFormat::Json => writeln!(out, "{}", to_json(&outcome))?,
            ReplayFormat::Text => {
                write!(out, "{}", to_text(&outcome, case.file.expect.as_ref()))?;
                if args.explain {
                    write!(out, "{}", explain(&outcome, &rules, case.file.now))?;
                }
            }
        }
        if let Some(expect) = &case.file.expect {
            expected += 1;
            met += usize::from(check_expect(&outcome, expect).is_ok());
        }
        if let Some(store) = &store {
            let recorded =
                crate::replay::record::record(store, &outcome, jiff::Timestamp::now()).await?;
            if args.format == ReplayFormat::Text {
                writeln!(out, "  store     {recorded:?}")?;
            }
        }
    }
    if args.format == ReplayFormat::Text && expected > 0 {
        writeln!(out, "\n{met} of {expected} cases met their expectations")?;
    }
    Ok(if unreadable > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `nightshift rbac`: RoleBindings for the namespaces the policy allows, and the admission
/// policy, as one YAML stream for `kubectl apply -f -`.
async fn rbac(args: RbacArgs, settings: &Settings, out: &mut impl Write) -> Result<ExitCode> {
    use crate::k8s::manifests::{
        Identity, Skipped, admission_policy, bound_namespaces, role_binding, to_yaml,
    };
    let identity = Identity::parse(&args.service_account).map_err(anyhow::Error::msg)?;
    let existing = match args.namespaces {
        Some(list) => {
            let names: Vec<String> = list
                .iter()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .collect();
            if let Some(bad) = names
                .iter()
                .find(|n| !crate::k8s::manifests::is_dns_label(n))
            {
                anyhow::bail!(
                    "--namespaces: `{bad}` is not a namespace name (a lower-case DNS label)"
                );
            }
            names
        }
        None => {
            let client = crate::daemon::client(args.kubeconfig.as_deref()).await?;
            let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
            api.list_metadata(&Default::default())
                .await
                .context("listing namespaces (give --namespaces to skip this)")?
                .items
                .into_iter()
                .filter_map(|ns| ns.metadata.name)
                .collect::<Vec<String>>()
        }
    };
    let (bound, skipped) = bound_namespaces(&settings.policy, &existing);
    writeln!(out, "# nightshift rbac for {}", identity.username())?;
    for skip in &skipped {
        match skip {
            Skipped::Protected(ns) => writeln!(out, "# {ns}: protected, no RoleBinding")?,
            Skipped::NotAllowed(ns) => {
                writeln!(out, "# {ns}: not in allowed_namespaces, no RoleBinding")?
            }
        }
    }
    let mut documents: Vec<serde_json::Value> =
        bound.iter().map(|ns| role_binding(&identity, ns)).collect();
    documents.extend(admission_policy(&identity, &settings.policy));
    write!(out, "{}", to_yaml(&documents)?)?;
    Ok(ExitCode::SUCCESS)
}

/// The exit status for a command that failed: 1 for input the user can fix (a directory named
/// that does not exist, `rules init` over existing files, a malformed investigation or an
/// object that does not exist), 2 for everything else.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    use crate::investigate::InvestigateError;
    let input = err.chain().any(|e| {
        e.is::<crate::cli::MissingDir>()
            || e.is::<crate::rules::defaults::InitError>()
            || e.is::<crate::investigate::BadRequest>()
            || e.downcast_ref::<InvestigateError>().is_some_and(|e| {
                matches!(
                    e,
                    InvestigateError::BadRequest(_)
                        | InvestigateError::NotFound(_)
                        | InvestigateError::NotOpened(_)
                )
            })
    });
    if input {
        ExitCode::FAILURE
    } else {
        ExitCode::from(2)
    }
}
