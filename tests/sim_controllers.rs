//! The controller models of the simulated cluster, stepped deterministically with a
//! controllable clock: rollouts, crash loops, rollbacks, strategies, history, quota, pod
//! replacement, and scenario files.

mod common;

use common::{BASE, container_status, revision, world};
use serde_json::{Value, json};

#[test]
fn a_deployment_gets_a_hashed_replicaset_at_revision_one_and_ready_pods() {
    let mut w = world(BASE);
    w.run(5);
    let rss = w.replicasets();
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    let hash = rs["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .expect("hash label");
    assert_eq!(rs["metadata"]["name"], format!("api-{hash}"));
    assert!(
        hash.bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
    );
    assert_eq!(
        rs["spec"]["selector"]["matchLabels"]["pod-template-hash"],
        hash
    );
    assert_eq!(
        rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"],
        hash
    );
    assert_eq!(revision(rs), 1);
    assert_eq!(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"],
        "3"
    );
    assert_eq!(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"],
        "4"
    );
    let d = w.deployment();
    let owner = &rs["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["controller"].as_bool()),
        (Some("Deployment"), Some(true))
    );
    assert_eq!(owner["uid"], d["metadata"]["uid"]);
    assert_eq!(revision(&d), 1);
    let pods = w.pods_of(rs);
    assert_eq!(pods.len(), 3);
    for pod in &pods {
        let name = pod["metadata"]["name"].as_str().expect("name");
        assert!(
            name.starts_with(&format!("api-{hash}-"))
                && name.len() == format!("api-{hash}-").len() + 5
        );
        assert_eq!(pod["status"]["phase"], "Running");
        let c = container_status(pod);
        assert_eq!(c["ready"], true);
        assert!(
            c["containerID"]
                .as_str()
                .is_some_and(|id| id.starts_with("containerd://") && id.len() == 13 + 64)
        );
        assert_eq!(c["image"], "docker.io/shop/api:v1");
        assert!(
            pod["status"]["podIP"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("10.244."))
        );
    }
    let status = &d["status"];
    assert_eq!(
        (
            status["replicas"].as_i64(),
            status["updatedReplicas"].as_i64()
        ),
        (Some(3), Some(3))
    );
    assert_eq!(
        (
            status["readyReplicas"].as_i64(),
            status["availableReplicas"].as_i64()
        ),
        (Some(3), Some(3))
    );
    assert_eq!(status["observedGeneration"], d["metadata"]["generation"]);
    let progressing = status["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == "Progressing")
        .expect("Progressing");
    assert_eq!(progressing["reason"], "NewReplicaSetAvailable");
    assert_eq!(
        progressing["message"],
        format!("ReplicaSet \"api-{hash}\" has successfully progressed.")
    );
    let scaled = w.events("ScalingReplicaSet");
    assert_eq!(
        scaled[0]["message"],
        format!("Scaled up replica set api-{hash} to 3")
    );
    assert_eq!(scaled[0]["source"]["component"], "deployment-controller");
}

const TO_V2: &str = "set-image: {deployment: api, namespace: shop, container: api, image: 'shop/api:v2', \
                     change_cause: 'kubectl set image deployment/api api=shop/api:v2'}";

#[test]
fn a_rollout_to_a_crashing_image_keeps_old_pods_serving_while_new_ones_crash_loop() {
    let mut w = world(BASE);
    w.run(5);
    w.act(TO_V2);
    w.run(30);
    let rss = w.replicasets();
    assert_eq!(rss.len(), 2);
    let (old, new) = (&rss[0], &rss[1]);
    assert_eq!((revision(old), revision(new)), (1, 2));
    assert_eq!(
        new["metadata"]["annotations"]["kubernetes.io/change-cause"],
        "kubectl set image deployment/api api=shop/api:v2"
    );
    assert_eq!(
        old["spec"]["replicas"], 3,
        "maxUnavailable 0 of 3 keeps every old pod"
    );
    assert_eq!(old["status"]["readyReplicas"], 3);
    assert_eq!(
        new["spec"]["replicas"], 1,
        "maxSurge 25% of 3 rounds up to one new pod"
    );
    let pods = w.pods_of(new);
    assert_eq!(pods.len(), 1);
    let pod = &pods[0];
    let c = container_status(pod);
    assert_eq!(c["restartCount"], 2);
    assert_eq!(c["ready"], false);
    let uid = pod["metadata"]["uid"].as_str().expect("uid");
    let name = pod["metadata"]["name"].as_str().expect("name");
    assert_eq!(c["state"]["waiting"]["reason"], "CrashLoopBackOff");
    assert_eq!(
        c["state"]["waiting"]["message"],
        format!("back-off 20s restarting failed container=api pod={name}_shop({uid})")
    );
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 1);
    assert_eq!(c["lastState"]["terminated"]["reason"], "Error");
    assert_eq!(pod["status"]["phase"], "Running");
    let previous = w.log(pod, true);
    assert!(previous.contains("Application run failed"), "{previous}");
    assert!(
        previous.contains("Caused by: java.lang.IllegalStateException: missing required environment variable PAYMENT_GATEWAY_URL"),
        "{previous}"
    );
    let d = w.deployment();
    assert_eq!(revision(&d), 2);
    let s = &d["status"];
    assert_eq!(
        (
            s["replicas"].as_i64(),
            s["updatedReplicas"].as_i64(),
            s["availableReplicas"].as_i64()
        ),
        (Some(4), Some(1), Some(3))
    );
    assert_eq!(s["unavailableReplicas"], 1);
    let progressing = w.condition(&d, "Progressing");
    assert_eq!(progressing["reason"], "ReplicaSetUpdated");
    let new_name = new["metadata"]["name"].as_str().expect("name");
    assert_eq!(
        progressing["message"],
        format!("ReplicaSet \"{new_name}\" is progressing.")
    );
    let back_off: Vec<Value> = w
        .events("BackOff")
        .into_iter()
        .filter(|e| e["involvedObject"]["name"] == name)
        .collect();
    assert_eq!(back_off.len(), 1, "repeats aggregate into one event");
    assert_eq!(back_off[0]["count"], 2);
    assert_eq!(back_off[0]["type"], "Warning");
    assert_eq!(
        back_off[0]["message"],
        format!("Back-off restarting failed container api in pod {name}_shop({uid})")
    );
    assert_eq!(
        back_off[0]["involvedObject"]["fieldPath"],
        "spec.containers{api}"
    );
    assert_eq!(back_off[0]["source"]["host"], pod["spec"]["nodeName"]);
    let started: Vec<Value> = w
        .events("Started")
        .into_iter()
        .filter(|e| e["involvedObject"]["name"] == name)
        .collect();
    assert_eq!(started[0]["count"], 3);
}

#[test]
fn rolling_back_like_rollout_undo_bumps_the_old_revision_and_completes() {
    let mut w = world(BASE);
    w.run(5);
    w.act(TO_V2);
    w.run(20);
    let crashing = w.replicasets()[1]["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    w.undo_to(1);
    w.run(5);
    let rss = w.replicasets();
    assert_eq!(rss.len(), 2);
    let (crashed, restored) = (&rss[0], &rss[1]);
    assert_eq!(crashed["metadata"]["name"], crashing.as_str());
    assert_eq!((revision(crashed), revision(restored)), (2, 3));
    assert_eq!(
        restored["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "1"
    );
    assert_eq!(crashed["spec"]["replicas"], 0);
    assert!(w.pods_of(crashed).is_empty());
    assert_eq!(w.pods_of(restored).len(), 3);
    let d = w.deployment();
    assert_eq!(revision(&d), 3);
    assert_eq!(
        d["status"]["observedGeneration"],
        d["metadata"]["generation"]
    );
    assert_eq!(
        (
            d["status"]["updatedReplicas"].as_i64(),
            d["status"]["availableReplicas"].as_i64()
        ),
        (Some(3), Some(3))
    );
    assert_eq!(d["status"]["replicas"], 3);
    assert_eq!(
        w.condition(&d, "Progressing")["reason"],
        "NewReplicaSetAvailable"
    );
    let messages: Vec<String> = w
        .events("ScalingReplicaSet")
        .iter()
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        messages.contains(&format!("Scaled down replica set {crashing} from 1 to 0")),
        "{messages:?}"
    );
}

#[test]
fn a_rollout_that_makes_no_progress_exceeds_its_deadline() {
    let yaml = BASE.replace(
        "      replicas: 3\n",
        "      replicas: 3\n      progressDeadlineSeconds: 30\n",
    );
    let mut w = world(&yaml);
    w.run(5);
    w.act(TO_V2);
    w.run(45);
    let d = w.deployment();
    let progressing = w.condition(&d, "Progressing");
    let new = w.replicasets()[1]["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    assert_eq!(
        (
            progressing["status"].as_str(),
            progressing["reason"].as_str()
        ),
        (Some("False"), Some("ProgressDeadlineExceeded"))
    );
    assert_eq!(
        progressing["message"],
        format!("ReplicaSet \"{new}\" has timed out progressing.")
    );
    assert_eq!(w.condition(&d, "Available")["status"], "True");
}

#[test]
fn a_healthy_rollout_replaces_every_old_pod_and_reports_progress_events() {
    let yaml = BASE.replace("  shop/api:oom:", "  shop/api:v3: healthy\n  shop/api:oom:");
    let mut w = world(&yaml);
    w.run(5);
    w.act("set-image: {deployment: api, namespace: shop, image: 'shop/api:v3'}");
    w.run(20);
    let rss = w.replicasets();
    assert_eq!(
        (
            rss[0]["spec"]["replicas"].as_i64(),
            rss[1]["spec"]["replicas"].as_i64()
        ),
        (Some(0), Some(3))
    );
    assert_eq!(w.pods_of(&rss[1]).len(), 3);
    let d = w.deployment();
    assert_eq!(
        w.condition(&d, "Progressing")["reason"],
        "NewReplicaSetAvailable"
    );
    let old = rss[0]["metadata"]["name"].as_str().expect("old");
    let down: Vec<Value> = w
        .events("ScalingReplicaSet")
        .into_iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(&format!("Scaled down replica set {old}")))
        })
        .collect();
    assert!(!down.is_empty());
}

#[test]
fn recreate_scales_the_old_pods_away_before_starting_new_ones() {
    let yaml = BASE
        .replace("  shop/api:oom:", "  shop/api:v3: healthy\n  shop/api:oom:")
        .replace(
            "      replicas: 3\n",
            "      replicas: 3\n      strategy: {type: Recreate}\n",
        );
    let mut w = world(&yaml);
    w.run(5);
    w.act("set-image: {deployment: api, namespace: shop, image: 'shop/api:v3'}");
    w.step();
    let rss = w.replicasets();
    assert_eq!(
        rss.len(),
        1,
        "the new ReplicaSet waits for the old pods to go"
    );
    assert_eq!(rss[0]["spec"]["replicas"], 0);
    w.run(10);
    let rss = w.replicasets();
    assert_eq!(
        (
            rss[0]["spec"]["replicas"].as_i64(),
            rss[1]["spec"]["replicas"].as_i64()
        ),
        (Some(0), Some(3))
    );
    assert_eq!(w.deployment()["status"]["availableReplicas"], 3);
}

#[test]
fn a_paused_deployment_does_not_roll_out_until_resumed() {
    let yaml = BASE.replace("  shop/api:oom:", "  shop/api:v3: healthy\n  shop/api:oom:");
    let mut w = world(&yaml);
    w.run(5);
    w.cluster
        .update_with("deploy", "shop", "api", |d| {
            d["spec"]["paused"] = json!(true)
        })
        .expect("pause");
    w.act("set-image: {deployment: api, namespace: shop, image: 'shop/api:v3'}");
    w.run(5);
    assert_eq!(w.replicasets().len(), 1);
    let d = w.deployment();
    assert_eq!(w.condition(&d, "Progressing")["reason"], "DeploymentPaused");
    w.cluster
        .update_with("deploy", "shop", "api", |d| {
            d["spec"]["paused"] = json!(false)
        })
        .expect("resume");
    w.run(20);
    assert_eq!(w.replicasets().len(), 2);
    assert_eq!(
        w.condition(&w.deployment(), "Progressing")["reason"],
        "NewReplicaSetAvailable"
    );
}

#[test]
fn old_replicasets_beyond_the_history_limit_are_deleted() {
    let yaml = BASE
        .replace(
            "  shop/api:oom:",
            "  shop/api:v3: healthy\n  shop/api:v4: healthy\n  shop/api:oom:",
        )
        .replace(
            "      replicas: 3\n",
            "      replicas: 3\n      revisionHistoryLimit: 1\n",
        );
    let mut w = world(&yaml);
    w.run(5);
    for image in ["shop/api:v3", "shop/api:v4"] {
        w.act(&format!(
            "set-image: {{deployment: api, namespace: shop, image: '{image}'}}"
        ));
        w.run(20);
    }
    let revisions: Vec<i64> = w.replicasets().iter().map(revision).collect();
    assert_eq!(revisions, [2, 3]);
}
