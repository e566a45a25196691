//! The live gatherer over HTTP against the simulated cluster, loaded with recorded incidents
//! (their objects with status as captured, and their container logs): it reads what the pure
//! gatherer picks offline from the same objects and logs, and the diagnosis and plan come out the
//! same as `nightshift replay` decides.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nightshift::domain::evidence::{ContainerState, Evidence, Facts};
use nightshift::domain::policy::Policy;
use nightshift::k8s::collect::Gatherer;
use nightshift::pipeline::decide;
use nightshift::replay::{Case, Replayed, run};
use nightshift::rules::RuleSet;
use nightshift::sim::SimCluster;
use serde::Deserialize;

mod sim_harness;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rules() -> RuleSet {
    RuleSet::load(&root().join("rules"), &root().join("playbooks"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A recorded case loaded into a fresh simulated cluster.
async fn cluster_for(case: &Case) -> sim_harness::Sim {
    let cluster = SimCluster::new();
    let yaml = std::fs::read_to_string(case.dir.join("objects.yaml")).expect("objects.yaml");
    for doc in serde_yaml_ng::Deserializer::from_str(&yaml) {
        let object = serde_json::Value::deserialize(doc).expect("YAML");
        let items = match object.get("items").and_then(|i| i.as_array()) {
            Some(items) => items.clone(),
            None if object.is_null() => Vec::new(),
            None => vec![object],
        };
        for item in items {
            // Kinds the sim does not serve (Service, StatefulSet...) are not read by the
            // gatherer either.
            if let Err(e) = cluster.apply(item) {
                assert!(
                    e.message.contains("is registered"),
                    "the sim refused an object: {e:?}"
                );
            }
        }
    }
    for ((pod, container, previous), text) in &case.logs {
        let ns = case
            .objects
            .pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(pod))
            .and_then(|p| p.metadata.namespace.clone())
            .expect("the log's pod is recorded");
        cluster.set_log(&ns, pod, container, *previous, text);
    }
    sim_harness::start(cluster).await
}

/// Evidence by id; what the apiserver cannot give (Secrets are never read, alerts and metrics
/// do not come from it) is left out.
fn essentials(evidence: &Evidence) -> BTreeMap<String, Facts> {
    evidence
        .items
        .iter()
        .filter(|i| {
            !["secret/", "metric/", "alert/"]
                .iter()
                .any(|p| i.id.starts_with(p))
        })
        .map(|i| (i.id.clone(), i.facts.clone()))
        .collect()
}

/// What the live gatherer and `replay` made of one case.
struct Compared {
    offline: Replayed,
    live: Evidence,
    live_errors: Vec<String>,
    live_replayed: Replayed,
}

async fn compare(dir: &Path, rules: &RuleSet) -> Option<Compared> {
    let case = Case::load(dir).unwrap_or_else(|e| panic!("{e}"));
    let offline = run(&case, rules, &Policy::default()).incident?;
    let playbook = rules.playbook(&offline.playbook).expect("playbook");
    let sim = cluster_for(&case).await;
    let signal = &offline.signal;
    let gathered = Gatherer::new(sim.client.clone())
        .gather(&signal.target, signal.workload.as_ref(), &playbook.evidence)
        .await;
    let mut live = gathered.evidence;
    // Alerts and metrics come from Alertmanager and Prometheus, as replay adds them.
    for item in &offline.evidence.items {
        if item.id.starts_with("alert/") || item.id.starts_with("metric/") {
            live.items.push(item.clone());
        }
    }
    let (diagnosis, plan) = decide(
        signal,
        playbook,
        &live,
        &Policy::default(),
        &[],
        case.file.now,
    );
    let live_replayed = Replayed {
        evidence: live.clone(),
        diagnosis,
        plan,
        ..offline.clone()
    };
    Some(Compared {
        offline,
        live,
        live_errors: gathered.errors.iter().map(ToString::to_string).collect(),
        live_replayed,
    })
}

/// The current log of a container that is waiting to restart: the kubelet serves the previous
/// instance's log for it, which the gatherer already read, so it is not asked. Some recordings
/// hold one anyway, captured earlier.
fn kubelet_serves_previous(id: &str, evidence: &Evidence) -> bool {
    evidence.pods().any(|(_, pod)| {
        pod.all_containers().any(|c| {
            id == format!("log/{}/{}", pod.name, c.name)
                && matches!(c.state, Some(ContainerState::Waiting { .. }))
                && evidence.contains(&format!("{id}/previous"))
        })
    })
}

/// Differences in the essentials: offline items missing or different live.
fn missing_or_different(c: &Compared) -> Vec<String> {
    let live = essentials(&c.live);
    essentials(&c.offline.evidence)
        .into_iter()
        .filter(|(id, _)| !kubelet_serves_previous(id, &c.offline.evidence))
        .filter_map(|(id, facts)| match live.get(&id) {
            None => Some(format!("{id}: missing live")),
            Some(got) if *got != facts => Some(format!("{id}: differs live")),
            Some(_) => None,
        })
        .collect()
}

#[tokio::test]
async fn a_crash_looping_deployment_pod_is_gathered_live_exactly_as_replay_gathers_it() {
    let dir = root().join("fixtures/incidents/payments-api-missing-deploy-env-after-v2-3-1");
    let c = compare(&dir, &rules()).await.expect("an incident");
    let errors: Vec<&String> = c.live_errors.iter().collect();
    assert!(errors.is_empty(), "{errors:?}");
    pretty_assertions::assert_eq!(essentials(&c.live), essentials(&c.offline.evidence));
    let (_, rollout) = c.live.rollouts().next().expect("rollout history");
    assert_eq!(rollout.revisions.len(), 2, "two ReplicaSet revisions");
    let stack = c
        .live
        .logs()
        .find(|(id, _)| id.ends_with("/previous"))
        .expect("previous log");
    assert!(
        stack.1.lines.iter().any(|l| l.contains("DEPLOY_ENV")),
        "the JVM stack trace"
    );
    assert!(c.live.events().count() > 0);
    pretty_assertions::assert_eq!(c.live_replayed.diagnosis, c.offline.diagnosis);
    pretty_assertions::assert_eq!(c.live_replayed.plan, c.offline.plan);
}

fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/incidents"))
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("case.yaml").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[tokio::test]
async fn every_recorded_incident_gathered_live_gives_replays_evidence_and_decision() {
    let rules = rules();
    let mut problems = Vec::new();
    let mut compared = 0;
    for dir in case_dirs() {
        let Some(c) = compare(&dir, &rules).await else {
            continue;
        };
        compared += 1;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut found = missing_or_different(&c);
        let errors = c
            .live_errors
            .iter()
            .filter(|e| !e.contains("list limitranges"));
        found.extend(errors.map(|e| format!("error: {e}")));
        let (live, offline) = (&c.live_replayed.diagnosis, &c.offline.diagnosis);
        if (live.category, &live.contributing) != (offline.category, &offline.contributing) {
            found.push(format!("diagnosis {live:?} live, {offline:?} offline"));
        }
        let tools = |r: &Replayed| r.plan.actions.iter().map(|a| a.tool).collect::<Vec<_>>();
        if tools(&c.live_replayed) != tools(&c.offline) {
            found.push(format!(
                "plan {:?} live, {:?} offline",
                c.live_replayed.plan, c.offline.plan
            ));
        }
        if !found.is_empty() {
            problems.push(format!("{name}:\n  {}", found.join("\n  ")));
        }
    }
    assert!(compared >= 30, "{compared} cases compared");
    assert!(
        problems.is_empty(),
        "{} case(s) differ:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
