//! Fidelity of the simulated cluster: the real kubectl against a served
//! `SimCluster`. Without kubectl the tests fail, unless NIGHTSHIFT_SKIP_KUBECTL=1 skips them
//! on purpose (tests/kubectl).

use std::path::PathBuf;
use std::process::Output;

use nightshift::sim::SimCluster;
use serde_json::{Value, json};

mod kubectl;
mod sim_harness;

struct Sim {
    cluster: SimCluster,
    kubeconfig: PathBuf,
    cli: kubectl::Kubectl,
    _sim: sim_harness::Sim,
}

/// A served cluster holding a node, a deployment and a crash-looping pod; `None` (with the
/// reason printed) when kubectl is not installed and that is allowed.
async fn start(test: &str) -> Option<Sim> {
    let path = kubectl::kubectl(test)?;
    let cluster = SimCluster::new();
    for object in fixtures() {
        cluster.apply(object).expect("fixture applies");
    }
    cluster.set_log(
        "shop",
        "web-1",
        "app",
        true,
        "starting\npanic: DEPLOY_ENV is not set\n",
    );
    cluster.set_log("shop", "web-1", "app", false, "starting again\n");
    let sim = sim_harness::start(cluster).await;
    Some(Sim {
        cluster: sim.cluster.clone(),
        kubeconfig: sim.kubeconfig.clone(),
        cli: kubectl::Kubectl::new(path, &sim.kubeconfig),
        _sim: sim,
    })
}

fn fixtures() -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"},
               "status": {"conditions": [{"type": "Ready", "status": "True"}],
                          "nodeInfo": {"kubeletVersion": "v1.32.0"}}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "app", "image": "shop/web:v1",
                                         "env": [{"name": "A", "value": "1"}]}]}}},
               "status": {"observedGeneration": 1, "replicas": 2, "readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "api", "namespace": "shop", "generation": 4},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "api"}},
                        "template": {"metadata": {"labels": {"app": "api"}},
                                     "spec": {"containers": [{"name": "app", "image": "shop/api:v4"}]}}},
               "status": {"observedGeneration": 4, "replicas": 1, "readyReplicas": 1,
                          "updatedReplicas": 1, "availableReplicas": 1}}),
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
               "spec": {"nodeName": "node-a", "containers": [{"name": "app", "image": "shop/web:v1"},
                                                             {"name": "proxy", "image": "envoy:v1"}]},
               "status": {"phase": "Running", "containerStatuses": [
                   {"name": "app", "ready": false, "restartCount": 3,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1}}},
                   {"name": "proxy", "ready": true, "restartCount": 0, "state": {"running": {}}}]}}),
    ]
}

impl Sim {
    /// Runs kubectl with this cluster's kubeconfig.
    async fn kubectl(&self, args: &[&str]) -> Output {
        self.cli.run(args).await
    }

    /// Runs kubectl and returns its stdout, failing the test on a non-zero exit.
    async fn ok(&self, args: &[&str]) -> String {
        self.cli.ok(args).await
    }

    fn deployment(&self) -> Value {
        self.cluster
            .get("deploy", "shop", "web")
            .expect("deployment exists")
    }
}

#[tokio::test]
async fn get_pods_as_yaml_prints_the_stored_pod() {
    let Some(sim) = start("get_pods_as_yaml_prints_the_stored_pod").await else {
        return;
    };
    let yaml = sim.ok(&["get", "pods", "-n", "shop", "-o", "yaml"]).await;
    let list: Value = serde_yaml_ng::from_str(&yaml).expect("yaml");
    assert_eq!(list["kind"], "List");
    let pod = &list["items"][0];
    assert_eq!(pod["metadata"]["name"], "web-1");
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "CrashLoopBackOff"
    );
    assert!(pod["metadata"]["uid"].is_string() && pod["metadata"]["resourceVersion"].is_string());
}

#[tokio::test]
async fn get_pods_and_deployments_print_the_servers_table_columns() {
    let Some(sim) = start("get_pods_and_deployments_print_the_servers_table_columns").await else {
        return;
    };
    let deploys = sim.ok(&["get", "deploy", "web", "-n", "shop"]).await;
    let header: Vec<&str> = deploys
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    let row: Vec<&str> = deploys
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row[..4], ["web", "1/2", "2", "1"]);
    let pods = sim.ok(&["get", "po", "-A"]).await;
    let row: Vec<&str> = pods
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row[..5], ["shop", "web-1", "1/2", "CrashLoopBackOff", "3"]);
    let nodes = sim.ok(&["get", "nodes"]).await;
    assert!(
        nodes.contains("node-a") && nodes.contains("Ready"),
        "{nodes}"
    );
}

#[tokio::test]
async fn logs_previous_prints_the_crashed_containers_log() {
    let Some(sim) = start("logs_previous_prints_the_crashed_containers_log").await else {
        return;
    };
    let previous = sim
        .ok(&["logs", "web-1", "-n", "shop", "-c", "app", "--previous"])
        .await;
    assert_eq!(previous, "starting\npanic: DEPLOY_ENV is not set\n");
    let tail = sim
        .ok(&[
            "logs",
            "web-1",
            "-n",
            "shop",
            "-c",
            "app",
            "--previous",
            "--tail=1",
        ])
        .await;
    assert_eq!(tail, "panic: DEPLOY_ENV is not set\n");
    let proxy = sim
        .kubectl(&["logs", "web-1", "-n", "shop", "-c", "proxy", "--previous"])
        .await;
    assert!(!proxy.status.success());
    let stderr = String::from_utf8_lossy(&proxy.stderr);
    assert!(
        stderr.contains("previous terminated container \"proxy\" in pod \"web-1\" not found"),
        "{stderr}"
    );
}

#[tokio::test]
async fn scale_sets_replicas_through_the_scale_subresource() {
    let Some(sim) = start("scale_sets_replicas_through_the_scale_subresource").await else {
        return;
    };
    let out = sim
        .ok(&["scale", "deployment/web", "-n", "shop", "--replicas=3"])
        .await;
    assert_eq!(out.trim(), "deployment.apps/web scaled");
    assert_eq!(sim.deployment()["spec"]["replicas"], 3);
    assert_eq!(sim.deployment()["metadata"]["generation"], 2);
}

#[tokio::test]
async fn rollout_status_follows_the_deployment_status_through_a_watch() {
    let Some(sim) = start("rollout_status_follows_the_deployment_status_through_a_watch").await
    else {
        return;
    };
    let done = sim
        .ok(&["rollout", "status", "deployment/api", "-n", "shop"])
        .await;
    assert_eq!(done.trim(), "deployment \"api\" successfully rolled out");
    let waiting = sim
        .kubectl(&[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "shop",
            "--timeout=1s",
        ])
        .await;
    assert!(
        !waiting.status.success(),
        "web has one of two replicas available"
    );
    let stdout = String::from_utf8_lossy(&waiting.stdout);
    assert!(stdout.contains("Waiting for deployment \"web\" rollout to finish: 1 of 2 updated replicas are available..."), "{stdout}");
}

#[tokio::test]
async fn cordon_and_uncordon_toggle_the_nodes_unschedulable_flag() {
    let Some(sim) = start("cordon_and_uncordon_toggle_the_nodes_unschedulable_flag").await else {
        return;
    };
    assert_eq!(
        sim.ok(&["cordon", "node-a"]).await.trim(),
        "node/node-a cordoned"
    );
    let node = sim.cluster.get("nodes", "", "node-a").expect("node");
    assert_eq!(node["spec"]["unschedulable"], true);
    let listed = sim.ok(&["get", "nodes"]).await;
    assert!(listed.contains("Ready,SchedulingDisabled"), "{listed}");
    assert_eq!(
        sim.ok(&["cordon", "node-a"]).await.trim(),
        "node/node-a already cordoned"
    );
    assert_eq!(
        sim.ok(&["uncordon", "node-a"]).await.trim(),
        "node/node-a uncordoned"
    );
    let node = sim.cluster.get("nodes", "", "node-a").expect("node");
    assert!(node["spec"].get("unschedulable").is_none());
}

#[tokio::test]
async fn patch_applies_strategic_merge_and_json_patches() {
    let Some(sim) = start("patch_applies_strategic_merge_and_json_patches").await else {
        return;
    };
    let strategic =
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"shop/web:v2"}]}}}}"#;
    sim.ok(&["patch", "deploy", "web", "-n", "shop", "-p", strategic])
        .await;
    let container = sim.deployment()["spec"]["template"]["spec"]["containers"][0].clone();
    assert_eq!(container["image"], "shop/web:v2");
    assert_eq!(
        container["env"][0]["name"], "A",
        "strategic merge keeps the rest of the container"
    );

    sim.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"labels":{"team":"pay"}}}"#,
    ])
    .await;
    assert_eq!(sim.deployment()["metadata"]["labels"]["team"], "pay");

    let ops = r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#;
    sim.ok(&[
        "patch", "deploy", "web", "-n", "shop", "--type", "json", "-p", ops,
    ])
    .await;
    assert_eq!(sim.deployment()["spec"]["replicas"], 4);

    let unchanged = sim
        .ok(&[
            "patch", "deploy", "web", "-n", "shop", "--type", "json", "-p", ops,
        ])
        .await;
    assert!(unchanged.contains("(no change)"), "{unchanged}");
}

#[tokio::test]
async fn delete_pod_removes_it_and_its_logs() {
    let Some(sim) = start("delete_pod_removes_it_and_its_logs").await else {
        return;
    };
    let out = sim.ok(&["delete", "pod", "web-1", "-n", "shop"]).await;
    assert_eq!(out.trim(), "pod \"web-1\" deleted");
    assert!(sim.cluster.get("pods", "shop", "web-1").is_none());
    let missing = sim.kubectl(&["get", "pod", "web-1", "-n", "shop"]).await;
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("Error from server (NotFound): pods \"web-1\" not found"),
        "{stderr}"
    );
}

#[tokio::test]
async fn create_and_apply_from_a_file_validate_on_the_server() {
    let Some(sim) = start("create_and_apply_from_a_file_validate_on_the_server").await else {
        return;
    };
    let file = sim.kubeconfig.with_file_name("settings.yaml");
    std::fs::write(&file, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\ndata: {a: \"1\"}\n")
        .expect("write");
    let path = file.to_string_lossy().into_owned();
    assert_eq!(
        sim.ok(&["create", "-f", &path]).await.trim(),
        "configmap/settings created"
    );
    std::fs::write(&file, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\ndata: {a: \"2\"}\n")
        .expect("write");
    assert_eq!(
        sim.ok(&["apply", "-f", &path]).await.trim(),
        "configmap/settings configured"
    );
    let cm = sim
        .cluster
        .get("configmaps", "shop", "settings")
        .expect("configmap");
    assert_eq!(cm["data"]["a"], "2");
}

#[tokio::test]
async fn controller_revisions_are_listed_got_and_watched_like_the_real_apiservers() {
    let Some(sim) =
        start("controller_revisions_are_listed_got_and_watched_like_the_real_apiservers").await
    else {
        return;
    };
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "shop", "uid": "sts-1"},
        "spec": {"replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}}}});
    sim.cluster.apply(sts).expect("statefulset applies");
    for (hash, revision, image) in [
        ("5c7d8e9f6", 1, "postgres:15"),
        ("6d4f7b9c8", 2, "postgres:16"),
    ] {
        let cr = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": format!("db-{hash}"), "namespace": "shop",
                "labels": {"app": "db", "controller.kubernetes.io/hash": hash},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                                     "uid": "sts-1", "controller": true}]},
            "revision": revision,
            "data": {"spec": {"template": {"$patch": "replace",
                "spec": {"containers": [{"name": "db", "image": image}]}}}}});
        sim.cluster.apply(cr).expect("revision applies");
    }
    let listed = sim
        .ok(&[
            "get",
            "controllerrevisions",
            "-n",
            "shop",
            "-l",
            "app=db",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(
        listed.lines().collect::<Vec<_>>(),
        [
            "controllerrevision.apps/db-5c7d8e9f6",
            "controllerrevision.apps/db-6d4f7b9c8"
        ]
    );
    let one = sim
        .ok(&[
            "get",
            "controllerrevision",
            "db-6d4f7b9c8",
            "-n",
            "shop",
            "-o",
            "json",
        ])
        .await;
    let one: Value = serde_json::from_str(&one).expect("json");
    assert_eq!(one["revision"], 2);
    assert_eq!(
        one["data"]["spec"]["template"]["spec"]["containers"][0]["image"],
        "postgres:16"
    );
    let sts = sim
        .ok(&["get", "sts", "db", "-n", "shop", "-o", "name"])
        .await;
    assert_eq!(sts.trim(), "statefulset.apps/db");
    // A watch is served: kubectl prints the current list and waits; a request timeout ends it.
    let watched = sim
        .kubectl(&[
            "get",
            "controllerrevisions",
            "-n",
            "shop",
            "--watch",
            "--request-timeout=2s",
            "-o",
            "name",
        ])
        .await;
    let out = String::from_utf8_lossy(&watched.stdout);
    assert!(
        out.contains("controllerrevision.apps/db-6d4f7b9c8"),
        "{out}"
    );
}

#[tokio::test]
async fn api_resources_lists_every_served_type_with_short_names() {
    let Some(sim) = start("api_resources_lists_every_served_type_with_short_names").await else {
        return;
    };
    let out = sim.ok(&["api-resources", "--no-headers"]).await;
    for (name, short) in [
        ("pods", "po"),
        ("deployments", "deploy"),
        ("cronjobs", "cj"),
        ("resourcequotas", "quota"),
        ("statefulsets", "sts"),
        ("daemonsets", "ds"),
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_default();
        assert!(line.contains(short), "{name} lacks {short}: {out}");
    }
}
