//! The ReplicaSet side of the simulated control plane: scaling, replacing pods deleted
//! through the API, and ResourceQuota refusing pods with the apiserver's message.

mod common;

use common::{BASE, container_status, world};
use serde_json::{Value, json};

#[test]
fn scaling_a_complete_deployment_scales_its_replicaset() {
    let mut w = world(BASE);
    w.run(5);
    w.act("scale: {deployment: api, namespace: shop, replicas: 5}");
    w.run(5);
    let rs = &w.replicasets()[0];
    assert_eq!(rs["spec"]["replicas"], 5);
    assert_eq!(w.pods_of(rs).len(), 5);
    let name = rs["metadata"]["name"].as_str().expect("name");
    let messages: Vec<Value> = w
        .events("ScalingReplicaSet")
        .iter()
        .map(|e| e["message"].clone())
        .collect();
    assert!(
        messages.contains(&json!(format!("Scaled up replica set {name} from 3 to 5"))),
        "{messages:?}"
    );
}

#[test]
fn a_pod_deleted_through_the_api_is_replaced() {
    let mut w = world(BASE);
    w.run(5);
    let rs = w.replicasets()[0].clone();
    let victim = w.pods_of(&rs)[0]["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    w.cluster.delete("pods", "shop", &victim).expect("delete");
    w.run(3);
    let pods = w.pods_of(&rs);
    assert_eq!(pods.len(), 3);
    assert!(
        pods.iter()
            .all(|p| p["metadata"]["name"] != victim.as_str())
    );
    assert!(pods.iter().all(|p| container_status(p)["ready"] == true));
    let created = w.events("SuccessfulCreate");
    assert_eq!(created.len(), 4);
    assert_eq!(created[0]["source"]["component"], "replicaset-controller");
    let killed: Vec<Value> = w
        .events("Killing")
        .into_iter()
        .filter(|e| e["involvedObject"]["name"] == victim.as_str())
        .collect();
    assert_eq!(killed[0]["message"], "Stopping container api");
}

#[test]
fn a_namespace_quota_refuses_pods_with_the_apiservers_message() {
    let quota = "  - {apiVersion: v1, kind: ResourceQuota, metadata: {name: compute, namespace: shop}, \
                 spec: {hard: {limits.memory: 1Gi, pods: '10'}}}\n";
    let yaml = BASE.replace("objects:\n", &format!("objects:\n{quota}"));
    let mut w = world(&yaml);
    w.run(3);
    let rs = &w.replicasets()[0];
    assert_eq!(w.pods_of(rs).len(), 2);
    let failed = w.events("FailedCreate");
    assert_eq!(failed.len(), 1);
    let message = failed[0]["message"].as_str().expect("message");
    assert!(
        message.starts_with(&format!(
            "Error creating: pods \"{}-",
            rs["metadata"]["name"].as_str().expect("name")
        )),
        "{message}"
    );
    assert!(
        message.ends_with(
            "\" is forbidden: exceeded quota: compute, requested: limits.memory=512Mi, \
                              used: limits.memory=1Gi, limited: limits.memory=1Gi"
        ),
        "{message}"
    );
    assert_eq!(failed[0]["type"], "Warning");
    assert_eq!(w.condition(rs, "ReplicaFailure")["reason"], "FailedCreate");
    assert_eq!(
        w.condition(&w.deployment(), "ReplicaFailure")["status"],
        "True"
    );
    let quota = w.cluster.get("quota", "shop", "compute").expect("quota");
    assert_eq!(
        quota["status"]["used"],
        json!({"limits.memory": "1Gi", "pods": "2"})
    );
}
