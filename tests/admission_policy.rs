//! deploy/admission-policy.yaml: it is what `nightshift rbac` prints for the default policy, it
//! has the shape of the Kubernetes API types (admissionregistration.k8s.io/v1, GA in 1.30), and
//! its CEL expressions are exercised here with a CEL interpreter: every change the executor
//! makes for a catalog action on the simulated cluster is admitted, and each attack a stolen
//! token could try (a field the catalog never changes, a protected namespace, a bare pod, a
//! control-plane node, a create or a delete) is denied. No cluster here serves admission
//! policies (the simulated one does not; the real control plane of the tests is 1.20), so the
//! interpreter stands in for the apiserver's CEL.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use nightshift::domain::catalog::Tool;
use nightshift::domain::policy::Policy;
use nightshift::k8s::manifests::{Identity, admission_policy};
use nightshift::sim::SimCluster;
use serde_json::{Value, json};

mod sim_harness;

fn shipped() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/admission-policy.yaml");
    let text = std::fs::read_to_string(path).expect("deploy/admission-policy.yaml");
    text.split("\n---")
        .filter(|doc| {
            doc.lines()
                .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
        })
        .map(|doc| serde_yaml_ng::from_str(doc).expect("yaml"))
        .collect()
}

#[test]
fn the_shipped_policy_is_what_nightshift_rbac_prints_for_the_default_policy() {
    let generated = admission_policy(&Identity::default(), &Policy::default());
    assert_eq!(
        shipped(),
        generated.to_vec(),
        "deploy/admission-policy.yaml is stale: regenerate it with \
         `nightshift rbac --namespaces ''` (the documents after the RoleBindings)"
    );
}

#[test]
fn the_policy_and_its_binding_have_the_shape_of_the_kubernetes_api_types() {
    let [policy, binding] = admission_policy(&Identity::default(), &Policy::default());
    let typed: ValidatingAdmissionPolicy =
        serde_json::from_value(policy.clone()).expect("a ValidatingAdmissionPolicy");
    // A misspelt or unknown field would be dropped by the typed round trip.
    assert_eq!(serde_json::to_value(&typed).expect("json"), policy);
    let spec = typed.spec.expect("spec");
    assert_eq!(spec.failure_policy.as_deref(), Some("Fail"));
    let validations = spec.validations.expect("validations");
    assert!(validations.len() >= 5);
    for v in &validations {
        cel::Program::compile(&v.expression)
            .unwrap_or_else(|e| panic!("CEL does not parse: {e:?}\n{}", v.expression));
        assert!(v.message.as_deref().is_some_and(|m| !m.is_empty()));
    }
    for m in spec.match_conditions.expect("matchConditions") {
        cel::Program::compile(&m.expression).expect("matchCondition parses");
    }
    let typed: ValidatingAdmissionPolicyBinding =
        serde_json::from_value(binding.clone()).expect("a ValidatingAdmissionPolicyBinding");
    assert_eq!(serde_json::to_value(&typed).expect("json"), binding);
    let spec = typed.spec;
    assert_eq!(Some(spec.policy_name), typed.metadata.name.clone());
    assert_eq!(spec.validation_actions, vec!["Deny".to_string()]);
}

/// JSON as CEL sees a Kubernetes object: integers are `int`.
fn cel_value(v: &Value) -> cel::Value {
    match v {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => cel::Value::Int(i),
            None => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => cel::Value::List(Arc::new(items.iter().map(cel_value).collect())),
        Value::Object(map) => {
            let map: HashMap<String, cel::Value> =
                map.iter().map(|(k, v)| (k.clone(), cel_value(v))).collect();
            map.into()
        }
    }
}

/// One admission request: what the apiserver binds for the policy's expressions.
struct Request {
    user: String,
    operation: &'static str,
    group: &'static str,
    resource: &'static str,
    sub_resource: &'static str,
    namespace: String,
    object: Value,
    old_object: Value,
}

impl Request {
    fn update(resource: &'static str, namespace: &str, old: Value, new: Value) -> Request {
        let group = match resource {
            "deployments" => "apps",
            "cronjobs" => "batch",
            _ => "",
        };
        Request {
            user: Identity::default().username(),
            operation: "UPDATE",
            group,
            resource,
            sub_resource: "",
            namespace: namespace.into(),
            object: new,
            old_object: old,
        }
    }

    fn delete(resource: &'static str, namespace: &str, old: Value) -> Request {
        Request {
            operation: "DELETE",
            ..Request::update(resource, namespace, old, Value::Null)
        }
    }

    fn bind(&self) -> Vec<(&'static str, Value)> {
        vec![
            (
                "request",
                json!({
                    "operation": self.operation,
                    "namespace": self.namespace,
                    "subResource": self.sub_resource,
                    "resource": {"group": self.group, "version": "v1", "resource": self.resource},
                    "userInfo": {"username": self.user},
                }),
            ),
            ("object", self.object.clone()),
            ("oldObject", self.old_object.clone()),
        ]
    }
}

fn evaluate(expression: &str, request: &Request) -> Result<bool, String> {
    let program = cel::Program::compile(expression).map_err(|e| format!("{e:?}"))?;
    let mut context = cel::Context::default();
    for (name, value) in request.bind() {
        context.add_variable_from_value(name, cel_value(&value));
    }
    match program.execute(&context) {
        Ok(cel::Value::Bool(b)) => Ok(b),
        other => Err(format!("{expression} gave {other:?}")),
    }
}

/// Whether the apiserver would admit `request` under `policy`: `Err` holds the messages of the
/// failed validations (an evaluation error fails too: failurePolicy Fail).
fn admit(policy: &Value, request: &Request) -> Result<(), Vec<String>> {
    let spec = &policy["spec"];
    let rules = spec["matchConstraints"]["resourceRules"]
        .as_array()
        .expect("rules");
    let resource = match request.sub_resource {
        "" => request.resource.to_owned(),
        sub => format!("{}/{sub}", request.resource),
    };
    let matched = rules.iter().any(|r| {
        r["apiGroups"]
            .as_array()
            .expect("groups")
            .contains(&json!(request.group))
            && r["resources"]
                .as_array()
                .expect("resources")
                .contains(&json!(resource))
            && r["operations"]
                .as_array()
                .expect("ops")
                .contains(&json!(request.operation))
    });
    let conditions = spec["matchConditions"].as_array().expect("conditions");
    let applies = matched
        && conditions
            .iter()
            .all(|c| evaluate(c["expression"].as_str().expect("expression"), request) == Ok(true));
    if !applies {
        return Ok(());
    }
    let failed: Vec<String> = spec["validations"]
        .as_array()
        .expect("validations")
        .iter()
        .filter_map(|v| {
            let expression = v["expression"].as_str().expect("expression");
            match evaluate(expression, request) {
                Ok(true) => None,
                Ok(false) => Some(v["message"].as_str().unwrap_or("").to_owned()),
                Err(e) => Some(format!("evaluation error: {e}")),
            }
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed)
    }
}

const OBJECTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
  uid: 0d2c0a5e-0000-4000-8000-000000000001
  labels: {app: api}
  annotations: {deployment.kubernetes.io/revision: "2", kubernetes.io/change-cause: release v2}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - {name: api, image: shop/api:v2, resources: {limits: {memory: 512Mi}}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: api-5b7f8c9d4
  namespace: shop
  annotations: {deployment.kubernetes.io/revision: "1", kubernetes.io/change-cause: release v1}
  labels: {app: api, pod-template-hash: 5b7f8c9d4}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: api, uid: 0d2c0a5e-0000-4000-8000-000000000001, controller: true}]
spec:
  replicas: 0
  selector: {matchLabels: {app: api, pod-template-hash: 5b7f8c9d4}}
  template:
    metadata: {labels: {app: api, pod-template-hash: 5b7f8c9d4}}
    spec:
      containers:
      - {name: api, image: shop/api:v1, resources: {limits: {memory: 512Mi}}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: api-6c8d9e7f5
  namespace: shop
  annotations: {deployment.kubernetes.io/revision: "2", kubernetes.io/change-cause: release v2}
  labels: {app: api, pod-template-hash: 6c8d9e7f5}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: api, uid: 0d2c0a5e-0000-4000-8000-000000000001, controller: true}]
spec:
  replicas: 2
  selector: {matchLabels: {app: api, pod-template-hash: 6c8d9e7f5}}
  template:
    metadata: {labels: {app: api, pod-template-hash: 6c8d9e7f5}}
    spec:
      containers:
      - {name: api, image: shop/api:v2, resources: {limits: {memory: 512Mi}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: api-6c8d9e7f5-x2k4q
  namespace: shop
  labels: {app: api, pod-template-hash: 6c8d9e7f5}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: api-6c8d9e7f5, uid: 0d2c0a5e-0000-4000-8000-000000000002, controller: true}]
spec:
  nodeName: worker-1
  containers: [{name: api, image: shop/api:v2}]
---
apiVersion: v1
kind: Node
metadata: {name: worker-1, labels: {kubernetes.io/hostname: worker-1}}
spec: {}
---
apiVersion: v1
kind: Node
metadata: {name: worker-2, labels: {kubernetes.io/hostname: worker-2}}
spec: {unschedulable: true}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: sync, namespace: shop}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: sync, image: shop/sync:v1}]
"#;

/// Runs one approved catalog action with the executor against a fresh simulated cluster and
/// returns the cluster, for reading the object after.
async fn run(tool: Tool, params: Value) -> sim_harness::Sim {
    let cluster = SimCluster::new();
    cluster.apply_yaml(OBJECTS).expect("objects load");
    let sim = sim_harness::start(cluster).await;
    sim_harness::run_approved(&sim.client, tool, params, "shop", "admission-test").await;
    sim
}

fn initial(kind: &str, namespace: &str, name: &str) -> Value {
    let cluster = SimCluster::new();
    cluster.apply_yaml(OBJECTS).expect("objects load");
    cluster.get(kind, namespace, name).expect("object")
}

fn policy() -> Value {
    let [policy, _] = admission_policy(&Identity::default(), &Policy::default());
    policy
}

fn assert_admitted(request: &Request, what: &str) {
    if let Err(messages) = admit(&policy(), request) {
        panic!("{what} was denied: {messages:?}");
    }
}

fn assert_denied(request: &Request, what: &str) {
    assert!(admit(&policy(), request).is_err(), "{what} was admitted");
}

#[tokio::test]
async fn every_deployment_change_the_executor_makes_is_admitted() {
    let cases = [
        (
            Tool::DeploymentRollback,
            json!({"namespace": "shop", "name": "api"}),
        ),
        (
            Tool::DeploymentRestart,
            json!({"namespace": "shop", "name": "api"}),
        ),
        (
            Tool::DeploymentSetResources,
            json!({"namespace": "shop", "name": "api", "container": "api", "memory_limit": "1Gi"}),
        ),
    ];
    for (tool, params) in cases {
        let before = initial("Deployment", "shop", "api");
        let sim = run(tool, params).await;
        let after = sim.cluster.get("Deployment", "shop", "api").expect("after");
        assert_ne!(before["spec"], after["spec"], "{tool} changed nothing");
        assert_admitted(
            &Request::update("deployments", "shop", before, after),
            &tool.to_string(),
        );
    }
}

fn scale(replicas: i64) -> Value {
    json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
           "metadata": {"name": "api", "namespace": "shop"}, "spec": {"replicas": replicas}})
}

fn scale_request(from: i64, to: i64) -> Request {
    Request {
        sub_resource: "scale",
        ..Request::update("deployments", "shop", scale(from), scale(to))
    }
}

#[tokio::test]
async fn a_scale_within_the_policy_bounds_is_admitted_and_one_outside_is_not() {
    let sim = run(
        Tool::DeploymentScale,
        json!({"namespace": "shop", "name": "api", "replicas": 4}),
    )
    .await;
    let after = sim.cluster.get("Deployment", "shop", "api").expect("after");
    let replicas = after["spec"]["replicas"].as_i64().expect("replicas");
    assert_eq!(replicas, 4);
    assert_admitted(&scale_request(2, replicas), "deployment.scale to 4");
    assert_denied(&scale_request(2, 500), "a scale to 500 (max_replicas 50)");
    assert_denied(&scale_request(2, 0), "a scale to 0 (min_replicas 1)");
}

#[tokio::test]
async fn pod_delete_cordon_uncordon_and_suspend_by_the_executor_are_admitted() {
    let pod = initial("Pod", "shop", "api-6c8d9e7f5-x2k4q");
    run(
        Tool::PodDelete,
        json!({"namespace": "shop", "name": "api-6c8d9e7f5-x2k4q"}),
    )
    .await;
    assert_admitted(&Request::delete("pods", "shop", pod), "pod.delete");

    for (tool, node) in [
        (Tool::NodeCordon, "worker-1"),
        (Tool::NodeUncordon, "worker-2"),
    ] {
        let before = initial("Node", "", node);
        let sim = run(tool, json!({"name": node})).await;
        let after = sim.cluster.get("Node", "", node).expect("node");
        assert_ne!(before["spec"], after["spec"], "{tool} changed nothing");
        assert_admitted(
            &Request::update("nodes", "", before, after),
            &tool.to_string(),
        );
    }

    let before = initial("CronJob", "shop", "sync");
    let sim = run(
        Tool::CronjobSuspend,
        json!({"namespace": "shop", "name": "sync"}),
    )
    .await;
    let after = sim.cluster.get("CronJob", "shop", "sync").expect("cronjob");
    assert_eq!(after["spec"]["suspend"], json!(true));
    assert_admitted(
        &Request::update("cronjobs", "shop", before, after),
        "cronjob.suspend",
    );
}

/// A change to an object.
type Edit = Box<dyn Fn(&mut Value)>;

/// The Deployment as restart leaves it (a legitimate template change), then `edit` on top.
fn deployment_edit(edit: impl Fn(&mut Value)) -> (Value, Value) {
    let before = initial("Deployment", "shop", "api");
    let mut after = before.clone();
    after["spec"]["template"]["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/restartedAt": "2026-12-02T03:00:00Z"});
    edit(&mut after);
    (before, after)
}

#[test]
fn a_deployment_change_beyond_the_pod_template_is_denied() {
    let attacks: [(&str, Edit); 5] = [
        (
            "a new selector",
            Box::new(|d| d["spec"]["selector"] = json!({"matchLabels": {"app": "x"}})),
        ),
        (
            "new labels",
            Box::new(|d| d["metadata"]["labels"]["team"] = json!("other")),
        ),
        (
            "replicas through the main resource",
            Box::new(|d| d["spec"]["replicas"] = json!(40)),
        ),
        (
            "a new strategy",
            Box::new(|d| d["spec"]["strategy"] = json!({"type": "Recreate"})),
        ),
        (
            "pausing it",
            Box::new(|d| d["spec"]["paused"] = json!(true)),
        ),
    ];
    for (what, edit) in attacks {
        let (before, after) = deployment_edit(edit);
        assert_denied(&Request::update("deployments", "shop", before, after), what);
    }
    let (before, after) = deployment_edit(|_| {});
    assert_admitted(
        &Request::update("deployments", "shop", before, after),
        "the restart alone",
    );
}

#[test]
fn nothing_in_a_protected_namespace_is_admitted() {
    for namespace in ["kube-system", "nightshift"] {
        let (before, after) = deployment_edit(|_| {});
        assert_denied(
            &Request::update("deployments", namespace, before, after),
            &format!("a restart in {namespace}"),
        );
        let pod = initial("Pod", "shop", "api-6c8d9e7f5-x2k4q");
        assert_denied(
            &Request::delete("pods", namespace, pod),
            &format!("a pod delete in {namespace}"),
        );
    }
}

#[test]
fn a_bare_pod_is_never_deleted() {
    let mut pod = initial("Pod", "shop", "api-6c8d9e7f5-x2k4q");
    pod["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("ownerReferences");
    assert_denied(&Request::delete("pods", "shop", pod), "deleting a bare pod");
}

#[test]
fn a_node_change_beyond_unschedulable_or_on_the_control_plane_is_denied() {
    let cordon = |node: &Value| {
        let mut after = node.clone();
        after["spec"]["unschedulable"] = json!(true);
        after
    };
    let worker = initial("Node", "", "worker-1");
    let mut control_plane = worker.clone();
    control_plane["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] = json!("");
    let after = cordon(&control_plane);
    assert_denied(
        &Request::update("nodes", "", control_plane, after),
        "cordoning a control-plane node",
    );
    let mut tainted = cordon(&worker);
    tainted["spec"]["taints"] = json!([{"key": "evil", "effect": "NoExecute"}]);
    assert_denied(
        &Request::update("nodes", "", worker.clone(), tainted),
        "a taint",
    );
    let mut labelled = cordon(&worker);
    labelled["metadata"]["labels"]["pool"] = json!("moved");
    assert_denied(&Request::update("nodes", "", worker, labelled), "a label");
}

#[test]
fn a_cronjob_may_only_be_suspended() {
    let before = initial("CronJob", "shop", "sync");
    let mut rescheduled = before.clone();
    rescheduled["spec"]["suspend"] = json!(true);
    rescheduled["spec"]["schedule"] = json!("* * * * *");
    assert_denied(
        &Request::update("cronjobs", "shop", before.clone(), rescheduled),
        "a new schedule",
    );
    let mut resumed = before.clone();
    resumed["spec"]["suspend"] = json!(false);
    assert_denied(
        &Request::update("cronjobs", "shop", before.clone(), resumed),
        "suspend: false",
    );
    let mut image = before.clone();
    image["spec"]["suspend"] = json!(true);
    image["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("evil/miner:latest");
    assert_denied(
        &Request::update("cronjobs", "shop", before, image),
        "a new job image",
    );
}

#[test]
fn creating_anything_or_deleting_anything_but_a_pod_is_denied() {
    let pod = initial("Pod", "shop", "api-6c8d9e7f5-x2k4q");
    let create = Request {
        operation: "CREATE",
        ..Request::update("pods", "shop", Value::Null, pod)
    };
    assert_denied(&create, "creating a pod");
    let deployment = initial("Deployment", "shop", "api");
    assert_denied(
        &Request::delete("deployments", "shop", deployment),
        "deleting a Deployment",
    );
    let node = initial("Node", "", "worker-1");
    assert_denied(&Request::delete("nodes", "", node), "deleting a Node");
}

#[test]
fn the_policy_binds_only_nightshifts_service_account() {
    let (before, after) = deployment_edit(|d| d["spec"]["selector"] = json!({"matchLabels": {}}));
    let someone_else = Request {
        user: "system:serviceaccount:ci:deployer".into(),
        ..Request::update("deployments", "kube-system", before, after)
    };
    assert!(
        admit(&policy(), &someone_else).is_ok(),
        "another user's change is not this policy's business"
    );
}
