//! The `nightshift` command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A self-hosted incident responder for Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "nightshift", version, about)]
pub struct Cli {
    /// Settings file (YAML). Without it, embedded defaults.
    #[arg(long, global = true, env = "NIGHTSHIFT_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where rules and playbooks live (overrides the settings file).
#[derive(Debug, Clone, Args)]
pub struct RuleDirs {
    /// Rules directory (default: the rules built into the binary).
    #[arg(long, env = "NIGHTSHIFT_RULES")]
    pub rules: Option<PathBuf>,
    /// Playbooks directory (default: the playbooks built into the binary).
    #[arg(long, env = "NIGHTSHIFT_PLAYBOOKS")]
    pub playbooks: Option<PathBuf>,
}

/// The store to read or write (overrides the settings file).
#[derive(Debug, Clone, Args)]
pub struct StoreArg {
    /// Store URL (`sqlite://nightshift.db`, `postgres://...`). Its value is never shown in
    /// `--help`: it may hold a password.
    #[arg(long, env = "NIGHTSHIFT_STORE", hide_env_values = true)]
    pub store: Option<String>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate rule and playbook files.
    Rules {
        /// What to do with them.
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Run recorded incidents through rules → evidence → diagnosis → plan → policy.
    Replay(ReplayArgs),
    /// Incidents in the store.
    Incidents {
        /// What to do.
        #[command(subcommand)]
        command: IncidentsCommand,
    },
    /// Render an incident report.
    Report {
        /// Incident id.
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
        format: ReportFormat,
        /// The store.
        #[command(flatten)]
        store: StoreArg,
    },
    /// The kill switch: stop every mutation by every daemon on the store at once. Authorized
    /// plans wait; diagnosis and paging go on. Recorded in the audit log with who and why.
    Pause(PauseArgs),
    /// Lift the kill switch: held plans run at each daemon's next poll (an approval that
    /// expired meanwhile escalates instead).
    Resume(ResumeArgs),
    /// The audit log.
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the JSON Schema of rule files, playbook files or the settings file.
    Schema {
        /// Which schema.
        #[arg(value_enum)]
        which: SchemaKind,
    },
    /// The whole loop in under a minute: a simulated cluster on loopback, the daemon against
    /// it over HTTP, a broken release, and what nightshift does about it, narrated.
    Demo {
        /// Where to write nightshift-demo.db and nightshift-demo-report.md.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Ask nightshift to look at an object even when no rule fired: open an incident, gather,
    /// diagnose and plan it as the daemon does (nothing is executed: a mutating plan waits for
    /// `incidents approve`, which a daemon on the same store then carries out), and print it.
    Investigate(InvestigateArgs),
    /// Run the daemon: watch the cluster, open incidents, gather, diagnose, plan, wait for
    /// approvals (`incidents approve`), execute, verify.
    Run {
        /// Kubeconfig to use (default: $KUBECONFIG, which may list several files, or
        /// ~/.kube/config; else the in-cluster service account).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Serve the HTTP front door here (/healthz, /readyz, the Alertmanager webhook);
        /// overrides `http.listen`.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// The store.
        #[command(flatten)]
        store: StoreArg,
        /// Rule directories.
        #[command(flatten)]
        dirs: RuleDirs,
    },
    /// Print what deploy/rbac.yaml cannot hold: a RoleBinding of `nightshift-actions` in each
    /// namespace the policy lets nightshift change, and the ValidatingAdmissionPolicy that lets
    /// its service account change only what the catalog changes.
    Rbac(RbacArgs),
    /// The simulated cluster: the Kubernetes REST API over HTTP, for tests and the demo.
    Sim {
        /// What to do.
        #[command(subcommand)]
        command: SimCommand,
    },
    /// Measure replay throughput and per-incident latency through rules → diagnosis → plan.
    Bench {
        /// Case directories (default: fixtures/incidents).
        cases: Vec<PathBuf>,
        /// Passes over the cases.
        #[arg(long, default_value_t = 200)]
        iterations: usize,
        /// Measure detection latency on a simulated cluster instead (apiserver change →
        /// incident persisted, through HTTP, the watchers, the rules and the store).
        #[arg(long)]
        detect: bool,
        /// Measure Alertmanager webhook ingest on loopback instead (groups of 1 and 50
        /// alerts; alerts/s and p50/p99 per request), and the page of an incident with 500
        /// evidence items.
        #[arg(long)]
        webhook: bool,
        /// Measure link POST → executor start instead (approval links over loopback, SQLite,
        /// the engine polling every --poll-millis); CASES names the fixture (default: the
        /// payments-api bad deploy).
        #[arg(long)]
        approve: bool,
        /// With --approve: approvals to measure.
        #[arg(long, default_value_t = 200)]
        approvals: usize,
        /// With --approve: the engine's approval poll interval (engine.poll_millis).
        #[arg(long, default_value_t = 1000)]
        poll_millis: u64,
        /// Measure signal → page delivered instead: this many signals of the first case (one
        /// whose plan needs an approval; default the payments-api crash loop) through the
        /// engine and the dispatcher to a loopback PagerDuty receiver (p50/p99).
        #[arg(long)]
        pages: Option<usize>,
        /// With --webhook: requests per group size.
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// With --webhook: concurrent connections (their requests share commits).
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// With --detect: pods in the simulated cluster.
        #[arg(long, default_value_t = 5000)]
        pods: usize,
        /// With --detect: crashes to measure.
        #[arg(long, default_value_t = 200)]
        changes: usize,
        /// With --detect: also measure a `nightshift run` process's memory on a cluster of
        /// this many pods.
        #[arg(long)]
        rss_pods: Option<usize>,
        /// Rule directories.
        #[command(flatten)]
        dirs: RuleDirs,
    },
}

/// `sim` subcommands.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve a simulated cluster until interrupted and write a kubeconfig for kubectl and nightshift.
    Serve {
        /// Address to listen on (loopback only).
        #[arg(long, default_value = "127.0.0.1:6443")]
        listen: std::net::SocketAddr,
        /// Where to write the kubeconfig.
        #[arg(long, default_value = "nightshift-sim.kubeconfig")]
        kubeconfig: PathBuf,
        /// A scenario to run (docs/scenarios.md: nodes, objects, image behaviours, a
        /// timeline; the controllers and kubelets run), or plain objects to load as they
        /// are (multi-document YAML, as `kubectl get -o yaml` prints; nothing runs).
        #[arg(long)]
        scenario: Option<PathBuf>,
    },
}

/// `rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Check every rule and playbook file; exit 1 on any problem.
    Check(RuleDirs),
    /// Write the built-in rules and playbooks to DIR/rules and DIR/playbooks, to tune them
    /// (then run with `--rules DIR/rules --playbooks DIR/playbooks`).
    Init {
        /// Where to write them.
        dir: PathBuf,
        /// Overwrite files that are already there.
        #[arg(long)]
        force: bool,
    },
}

/// `investigate` arguments.
#[derive(Debug, Args)]
pub struct InvestigateArgs {
    /// The object, as kubectl names it: `deployment/checkout`, `deploy/checkout`, `pod/x-1`.
    pub object: String,
    /// Its namespace (default: `default`; ignored for a node).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// What you want to know; kept with the incident and shown in its report.
    #[arg(long)]
    pub question: Option<String>,
    /// Kubeconfig to use (default: $KUBECONFIG or ~/.kube/config; else in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
    /// The store.
    #[command(flatten)]
    pub store: StoreArg,
    /// Rule directories.
    #[command(flatten)]
    pub dirs: RuleDirs,
}

/// `replay` arguments.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Case directories, or directories of cases.
    #[arg(required = true)]
    pub cases: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReplayFormat::Text)]
    pub format: ReplayFormat,
    /// Rule directories.
    #[command(flatten)]
    pub dirs: RuleDirs,
    /// With text output, also print every finding the diagnoser weighed and the rollout analysis.
    #[arg(long)]
    pub explain: bool,
    /// Also record each incident in this store (`sqlite://nightshift.db`).
    #[arg(long)]
    pub record: Option<String>,
}

/// `incidents` subcommands.
#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// Newest first.
    List {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The store.
        #[command(flatten)]
        store: StoreArg,
    },
    /// One incident as JSON.
    Show {
        /// Incident id.
        id: String,
        /// The store.
        #[command(flatten)]
        store: StoreArg,
    },
    /// Approve an incident's plan: name the plan you looked at by its hash (8+ hex digits).
    Approve(AnswerArgs),
    /// Deny an incident's plan: nothing will run.
    Deny(AnswerArgs),
}

/// An answer to a page.
#[derive(Debug, Args)]
pub struct AnswerArgs {
    /// Incident id.
    pub id: String,
    /// The hash of the plan you approve (from `incidents show` or the page); required to
    /// approve, so that a plan changed after you looked cannot run on your approval.
    #[arg(long)]
    pub plan: Option<String>,
    /// Who is answering: checked against the `approvers:` rules like a link's approver.
    /// Without it you answer as the operator on the store's machine ($USER), unchecked.
    #[arg(long = "as")]
    pub actor: Option<String>,
    /// Why (recorded in the audit log).
    #[arg(long)]
    pub reason: Option<String>,
    /// The store.
    #[command(flatten)]
    pub store: StoreArg,
}

/// Who pulls the kill switch, and why.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Why (recorded in the audit log and shown on every report).
    #[arg(long)]
    pub reason: String,
    /// Who is pausing (recorded in the audit log).
    #[arg(long = "as", env = "USER", default_value = "unknown")]
    pub actor: String,
    /// The store.
    #[command(flatten)]
    pub store: StoreArg,
}

/// Who lifts the kill switch, and why.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Why (recorded in the audit log).
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Who is resuming (recorded in the audit log).
    #[arg(long = "as", env = "USER", default_value = "unknown")]
    pub actor: String,
    /// The store.
    #[command(flatten)]
    pub store: StoreArg,
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain; exit 1 and name the first tampered row if it is broken.
    Verify(StoreArg),
}

/// Replay output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReplayFormat {
    /// For people.
    Text,
    /// One JSON object per case per line (DESIGN.md).
    Json,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Markdown.
    Md,
    /// HTML.
    Html,
    /// JSON.
    Json,
}

/// Schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// `rules/*.yaml`.
    Rules,
    /// `playbooks/*.yaml`.
    Playbook,
    /// The settings file.
    Config,
}

/// Expands arguments into case directories: a directory with `case.yaml` is a case; otherwise
/// each subdirectory with one is, in name order.
pub fn expand_cases(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in paths {
        if path.join("case.yaml").is_file() || !path.is_dir() {
            out.push(path.clone());
            continue;
        }
        let mut subdirs: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.join("case.yaml").is_file())
                    .collect()
            })
            .unwrap_or_default();
        subdirs.sort();
        if subdirs.is_empty() {
            out.push(path.clone());
        }
        out.extend(subdirs);
    }
    out
}

/// A rules or playbooks directory that was asked for and does not exist.
#[derive(Debug, thiserror::Error)]
#[error("{side} directory {} does not exist (named by {by})", path.display())]
pub struct MissingDir {
    /// `rules` or `playbooks`.
    pub side: &'static str,
    /// The directory.
    pub path: PathBuf,
    /// Where it was named: the flag/variable or the settings key.
    pub by: String,
}

/// The rules and playbooks directories to use: the flag (or its environment variable), else the
/// settings key, else `None` for the built-in defaults. A directory named that does not exist
/// is an error naming it.
pub fn rule_dirs(
    dirs: &RuleDirs,
    settings: &crate::config::Settings,
) -> Result<(Option<PathBuf>, Option<PathBuf>), MissingDir> {
    let pick = |side: &'static str,
                flag: &Option<PathBuf>,
                setting: &Option<PathBuf>|
     -> Result<Option<PathBuf>, MissingDir> {
        let (path, by) = match (flag, setting) {
            (Some(path), _) => (
                path,
                format!("--{side} or NIGHTSHIFT_{}", side.to_uppercase()),
            ),
            (None, Some(path)) => (path, format!("the settings key `{side}`")),
            (None, None) => return Ok(None),
        };
        if path.is_dir() {
            Ok(Some(path.clone()))
        } else {
            Err(MissingDir {
                side,
                path: path.clone(),
                by,
            })
        }
    };
    Ok((
        pick("rules", &dirs.rules, &settings.rules)?,
        pick("playbooks", &dirs.playbooks, &settings.playbooks)?,
    ))
}

/// `nightshift rbac`.
#[derive(Debug, Args)]
pub struct RbacArgs {
    /// The namespaces that exist (comma-separated); without it they are listed from the
    /// cluster with your kubeconfig.
    #[arg(long, value_delimiter = ',')]
    pub namespaces: Option<Vec<String>>,
    /// Kubeconfig for listing namespaces (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The service account nightshift runs as, NAMESPACE/NAME.
    #[arg(long, default_value = "nightshift/nightshift")]
    pub service_account: String,
}
