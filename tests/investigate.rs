//! Investigations (`investigate:` in a fixture's signal, DESIGN.md) and alerts no specific rule
//! names: a person asks about an object, or an alert points at one, and always gets an
//! incident. Asked (or alerted) about the workload of any recorded incident, the answer is the
//! one the incident itself got; asked about a healthy one, the built-in `investigate` rule opens
//! it, even from rule directories that lack it.

use std::path::{Path, PathBuf};

use nightshift::alerts::Webhook;
use nightshift::domain::policy::Policy;
use nightshift::domain::signal::ObjectRef;
use nightshift::replay::case::Investigate;
use nightshift::replay::{Case, Outcome, run, workload_of};
use nightshift::rules::RuleSet;
use serde_json::json;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped_rules() -> RuleSet {
    RuleSet::load(&root().join("rules"), &root().join("playbooks"))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn cases() -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/incidents"))
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs.iter()
        .map(|d| Case::load(d).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// (category, first action) of an outcome.
fn answer(outcome: &Outcome) -> Option<(String, String)> {
    let incident = outcome.incident.as_ref()?;
    let action = incident.plan.actions.first()?.tool.to_string();
    Some((incident.diagnosis.category.to_string(), action))
}

/// Replays every recorded case whose signal is an object twice — as recorded, and as `variant`
/// turns it into a signal about the object's workload — and lists where the answers differ.
fn same_answers(variant: impl Fn(&Case, &ObjectRef) -> Case) -> Vec<String> {
    let rules = shipped_rules();
    let policy = Policy::default();
    let mut compared = 0;
    let mut differences = Vec::new();
    for case in cases() {
        let signal = &case.file.signal;
        let (Some(kind), Some(name)) = (&signal.kind, &signal.name) else {
            continue;
        };
        let target = ObjectRef {
            kind: kind.clone(),
            namespace: signal.namespace.clone(),
            name: name.clone(),
        };
        let about = workload_of(&case.objects, &target).unwrap_or(target);
        let changed = variant(&case, &about);
        let (direct, indirect) = (run(&case, &rules, &policy), run(&changed, &rules, &policy));
        assert!(indirect.incident.is_some(), "{}: no incident", case.name);
        compared += 1;
        if answer(&direct) != answer(&indirect) {
            differences.push(format!(
                "{} (about {about}): {:?} as recorded, {:?} as a variant",
                case.name,
                answer(&direct),
                answer(&indirect)
            ));
        }
    }
    assert!(compared >= 30, "{compared} cases compared");
    differences
}

#[test]
fn asking_about_the_workload_of_a_recorded_incident_gets_the_incidents_answer() {
    let differences = same_answers(|case, about| {
        let mut asked = case.clone();
        asked.file.signal.kind = None;
        asked.file.signal.name = None;
        asked.file.signal.namespace = None;
        asked.file.signal.investigate = Some(Investigate {
            kind: about.kind.clone(),
            namespace: about.namespace.clone(),
            name: about.name.clone(),
            question: Some("what is wrong with it?".into()),
        });
        asked
    });
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// The label kube-state-metrics and kube-prometheus alerts name an object of `kind` with.
fn label_for(kind: &str) -> &'static str {
    match kind {
        "Deployment" => "deployment",
        "StatefulSet" => "statefulset",
        "DaemonSet" => "daemonset",
        "ReplicaSet" => "replicaset",
        "Job" => "job_name",
        "CronJob" => "cronjob",
        "Node" => "node",
        "PersistentVolumeClaim" => "persistentvolumeclaim",
        _ => "pod",
    }
}

#[test]
fn an_alert_no_rule_names_about_a_recorded_incidents_workload_gets_the_incidents_answer() {
    let differences = same_answers(|case, about| {
        let mut labels = json!({"alertname": "CheckoutErrorBudgetBurn", "severity": "page"});
        labels[label_for(&about.kind)] = json!(about.name);
        if let Some(ns) = &about.namespace {
            labels["namespace"] = json!(ns);
        }
        let hook = json!({
            "version": "4", "groupKey": "{}:{alertname=\"CheckoutErrorBudgetBurn\"}",
            "truncatedAlerts": 0, "status": "firing", "receiver": "nightshift",
            "groupLabels": {"alertname": "CheckoutErrorBudgetBurn"}, "commonLabels": labels,
            "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
            "alerts": [{"status": "firing", "labels": labels,
                        "annotations": {"summary": "error budget burning fast"},
                        "startsAt": case.file.now.to_string(), "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "http://prometheus:9090/graph", "fingerprint": "4b5a69780f1e2d3c"}]
        });
        let mut alerted = case.clone();
        alerted.file.signal.kind = None;
        alerted.file.signal.name = None;
        alerted.file.signal.alert = Some("alert.json".into());
        alerted.alert = Some(Webhook::parse(hook.to_string().as_bytes()).expect("webhook"));
        alerted
    });
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn an_investigation_no_rule_matches_opens_under_the_built_in_rule_without_the_shipped_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (rules, playbooks) = (tmp.path().join("rules"), tmp.path().join("playbooks"));
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::create_dir_all(&playbooks).expect("mkdir");
    std::fs::copy(
        root().join("rules/kubernetes.yaml"),
        rules.join("kubernetes.yaml"),
    )
    .expect("copy");
    for p in ["workload", "capacity", "job", "node"] {
        let file = format!("{p}.yaml");
        std::fs::copy(root().join("playbooks").join(&file), playbooks.join(&file)).expect("copy");
    }
    let set = RuleSet::load(&rules, &playbooks).unwrap_or_else(|e| panic!("{e}"));
    assert!(set.rules.iter().all(|r| r.rule.name != "investigate"));
    let case = Case::load(
        &root().join("fixtures/incidents/invoice-api-investigated-healthy-nothing-found"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let outcome = run(&case, &set, &Policy::default());
    let incident = outcome
        .incident
        .expect("an investigation always opens an incident");
    assert_eq!(incident.rule, "investigate");
    assert_eq!(incident.playbook, "investigate");
    assert_eq!(
        incident.signal.message.as_deref(),
        Some("Is invoice-api OK? A customer says invoices fail to load.")
    );
    assert!(
        incident
            .diagnosis
            .summary
            .contains("nothing in the evidence points at a failure"),
        "{}",
        incident.diagnosis.summary
    );
}

fn write_case(dir: &Path, signal: &str) -> PathBuf {
    let case = dir.join("case");
    std::fs::create_dir_all(&case).expect("mkdir");
    std::fs::write(
        case.join("case.yaml"),
        format!("description: x\nnow: \"2026-12-01T10:00:00Z\"\nsignal:\n{signal}"),
    )
    .expect("write");
    case
}

#[test]
fn a_signal_that_is_not_exactly_one_of_object_alert_or_investigation_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let both = write_case(
        tmp.path(),
        "  kind: Pod\n  name: a\n  investigate: {kind: Deployment, namespace: shop, name: a}\n",
    );
    let err = Case::load(&both).expect_err("two signals").to_string();
    assert!(err.contains("exactly one of"), "{err}");
    let service = write_case(
        tmp.path(),
        "  investigate: {kind: Service, namespace: shop, name: a}\n",
    );
    let err = Case::load(&service).expect_err("a Service").to_string();
    assert!(
        err.contains("kind `Service` is not one nightshift can look at"),
        "{err}"
    );
    let unknown_field = write_case(
        tmp.path(),
        "  investigate: {kind: deploy, namespace: shop, name: a, why: x}\n",
    );
    let err = Case::load(&unknown_field)
        .expect_err("unknown field")
        .to_string();
    assert!(err.contains("why"), "{err}");
}
