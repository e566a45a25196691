//! Scenario files: loading errors name the file and the problem; the shipped demo loads,
//! installs and plays out (a healthy shop, then a crash-looping checkout release).

mod common;

use common::{container_status, revision, world};
use nightshift::sim::scenario::{Scenario, ScenarioError};

#[test]
fn scenario_errors_name_the_file_and_what_is_wrong() {
    let error = |yaml: &str| {
        Scenario::from_yaml(yaml, std::path::Path::new("scenarios/broken.yaml"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let typo = error("timeline:\n  - at: 3s\n    set-imag: {deployment: a, image: b}\n");
    assert!(
        typo.starts_with("scenarios/broken.yaml: ") && typo.contains("unknown field `set-imag`"),
        "{typo}"
    );
    assert!(typo.contains("line 2"), "{typo}");
    let behaviour = error("images:\n  shop/a:1: crashy\n");
    assert!(
        behaviour.contains("unknown variant `crashy`"),
        "{behaviour}"
    );
    let no_time = error("timeline:\n  - scale: {deployment: a, replicas: 2}\n");
    assert!(no_time.contains("missing field `at`"), "{no_time}");
    let two = error("timeline:\n  - {at: 1s, node-ready: a, node-not-ready: b}\n");
    assert!(two.contains("one action"), "{two}");
    let duration = error("settings: {tick: 5 parsecs}\n");
    assert!(duration.contains("unknown unit"), "{duration}");
    let field = error("setings: {}\n");
    assert!(field.contains("unknown field `setings`"), "{field}");
    let missing = Scenario::from_yaml(
        "files: [nowhere.yaml]\n",
        std::path::Path::new("scenarios/x.yaml"),
    );
    assert!(
        matches!(&missing, Err(ScenarioError::Read { path, .. }) if path.ends_with("nowhere.yaml")),
        "{missing:?}"
    );
}

#[test]
fn the_shipped_demo_scenario_loads_and_its_rollout_crash_loops() {
    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/demo.yaml"))
        .expect("demo");
    let mut w = world(&yaml);
    assert_eq!(w.cluster.list("nodes", None).len(), 3);
    w.run(15);
    let deploy = w
        .cluster
        .get("deploy", "shop", "checkout")
        .expect("checkout");
    assert_eq!(
        deploy["status"]["availableReplicas"], 3,
        "the 1.4.2 pods keep serving"
    );
    let rss = w.cluster.list("rs", Some("shop"));
    let new = rss
        .iter()
        .find(|rs| revision(rs) == 2 && rs["metadata"]["labels"]["app"] == "checkout")
        .expect("new rs");
    let pod = w.pods_of(new).pop().expect("a 1.5.0 pod");
    let c = container_status(&pod);
    assert!(c["restartCount"].as_i64().is_some_and(|n| n >= 2), "{c}");
    let previous = w.log(&pod, true);
    assert!(
        previous.contains("missing required environment variable PAYMENT_GATEWAY_URL"),
        "{previous}"
    );
    for app in ["cart", "frontend"] {
        let d = w.cluster.get("deploy", "shop", app).expect(app);
        assert_eq!(d["status"]["availableReplicas"], 2, "{app}");
    }
    let loaded = Scenario::load(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/demo.yaml"));
    assert!(loaded.is_ok_and(|s| s.description().is_some()));
}

#[test]
fn every_object_the_demo_produces_deserializes_into_the_kubernetes_types() {
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
    use k8s_openapi::api::core::v1::{Event, Node, Pod};
    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/demo.yaml"))
        .expect("demo");
    let mut w = world(&yaml);
    w.run(15);
    fn all<T: serde::de::DeserializeOwned>(w: &common::World, kind: &str) -> usize {
        let objects = w.cluster.list(kind, None);
        for o in &objects {
            if let Err(e) = serde_json::from_value::<T>(o.clone()) {
                panic!("{kind} does not deserialize: {e}\n{o:#}");
            }
        }
        objects.len()
    }
    assert_eq!(all::<Pod>(&w, "pods"), 8);
    assert_eq!(all::<ReplicaSet>(&w, "replicasets"), 4);
    assert_eq!(all::<Deployment>(&w, "deployments"), 3);
    assert_eq!(all::<Node>(&w, "nodes"), 3);
    assert!(all::<Event>(&w, "events") > 30);
}
