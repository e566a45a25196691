//! The simulated cluster through kube-rs: a real `Client` built from the written kubeconfig
//! talks HTTP to a served `SimCluster` on 127.0.0.1:0.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::api::{ObjectList, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use kube::{Client, Config, ResourceExt};
use nightshift::sim::{SimCluster, SimOptions, serve, write_kubeconfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

struct Sim {
    cluster: SimCluster,
    client: Client,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start_with(options: SimOptions) -> Sim {
    let cluster = SimCluster::with_options(options);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await;
    let listener = listener.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    write_kubeconfig(&path, &url).expect("kubeconfig");
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(cluster.clone(), listener, shutdown.clone()));
    let kubeconfig = Kubeconfig::read_from(&path).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await;
    let config = config.expect("config from the written kubeconfig");
    let client = Client::try_from(config).expect("client");
    let _dir = dir;
    Sim {
        cluster,
        client,
        shutdown,
        _dir,
    }
}

async fn start() -> Sim {
    start_with(SimOptions::default()).await
}

impl Sim {
    fn api<K: kube::Resource<Scope = kube::core::NamespaceResourceScope>>(&self) -> Api<K>
    where
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), "default")
    }

    /// An object read directly through the library API.
    fn stored(&self, kind: &str, name: &str) -> Option<Value> {
        self.cluster.get(kind, "default", name)
    }

    /// Stores an object directly through the library API.
    fn put(&self, object: Value) {
        self.cluster.apply(object).expect("apply");
    }
}

fn pod_json(namespace: &str, name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"namespace": namespace, "name": name, "labels": labels},
           "spec": {"containers": [{"name": "app", "image": "shop/web:v1"}]}})
}

fn pod(name: &str, labels: Value) -> Pod {
    serde_json::from_value(pod_json("default", name, labels)).expect("pod")
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "shop/web:v1",
                                  "env": [{"name": "A", "value": "1"}]}]}}},
    }))
    .expect("deployment")
}

/// What the helpers below need of a Kubernetes object type.
trait Object: Clone + DeserializeOwned + Serialize + std::fmt::Debug {}
impl<K: Clone + DeserializeOwned + Serialize + std::fmt::Debug> Object for K {}

async fn create<K: Object>(api: &Api<K>, obj: &K) -> K {
    api.create(&PostParams::default(), obj)
        .await
        .expect("create")
}

async fn list<K: Object>(api: &Api<K>, params: ListParams) -> ObjectList<K> {
    api.list(&params).await.expect("list")
}

async fn patch<K: Object>(api: &Api<K>, name: &str, p: Patch<Value>) -> K {
    api.patch(name, &PatchParams::default(), &p)
        .await
        .expect("patch")
}

fn rv<K: kube::Resource>(obj: &K) -> u64 {
    obj.resource_version()
        .and_then(|v| v.parse().ok())
        .expect("numeric resourceVersion")
}

fn api_code<T>(result: Result<T, kube::Error>) -> u16 {
    match result {
        Err(kube::Error::Api(status)) => status.code,
        Err(other) => panic!("expected an API error, got {other:?}"),
        Ok(_) => panic!("expected an API error, got success"),
    }
}

async fn json_patch<K: DeserializeOwned>(client: &Client, uri: &str, ops: Value) -> K {
    let request = http::Request::patch(uri)
        .header(http::header::CONTENT_TYPE, "application/json-patch+json")
        .body(serde_json::to_vec(&ops).expect("body"))
        .expect("request");
    client.request::<K>(request).await.expect("json patch")
}

#[tokio::test]
async fn pods_round_trip_through_create_get_list_patch_and_delete() {
    let sim = start().await;
    let pods: Api<Pod> = sim.api();
    let created = create(&pods, &pod("web-1", json!({"app": "web"}))).await;
    assert!(created.uid().is_some() && created.creation_timestamp().is_some());
    let phase = created.status.and_then(|s| s.phase);
    assert_eq!(phase.as_deref(), Some("Pending"));

    assert_eq!(
        pods.get("web-1").await.expect("get").uid(),
        created.metadata.uid
    );
    let listed = list(&pods, ListParams::default().labels("app=web")).await;
    assert_eq!(listed.items.len(), 1);
    assert!(listed.metadata.resource_version.is_some());

    let label = json!({"metadata": {"labels": {"tier": "front"}}});
    let merged = patch(&pods, "web-1", Patch::Merge(label)).await;
    assert_eq!(merged.labels()["tier"], "front");
    let image = json!({"spec": {"containers": [{"name": "app", "image": "shop/web:v2"}]}});
    let patched = patch(&pods, "web-1", Patch::Strategic(image)).await;
    let spec = patched.spec.expect("spec");
    assert_eq!(spec.containers[0].image.as_deref(), Some("shop/web:v2"));

    pods.delete("web-1", &DeleteParams::default())
        .await
        .expect("delete");
    assert_eq!(api_code(pods.get("web-1").await), 404);
    assert!(sim.stored("pods", "web-1").is_none());
}

#[tokio::test]
async fn deployments_accept_merge_json_and_strategic_patches_and_bump_generation() {
    let sim = start().await;
    let deploys: Api<Deployment> = sim.api();
    let created = create(&deploys, &deployment("web")).await;
    assert_eq!(created.metadata.generation, Some(1));

    let merged = patch(
        &deploys,
        "web",
        Patch::Merge(json!({"spec": {"replicas": 3}})),
    )
    .await;
    assert_eq!(merged.spec.replicas, Some(3));
    assert_eq!(merged.metadata.generation, Some(2));

    let uri = "/apis/apps/v1/namespaces/default/deployments/web";
    let path = "/spec/template/spec/containers/0/image";
    let ops = json!([{"op": "replace", "path": path, "value": "shop/web:v2"}]);
    let json_patched: Deployment = json_patch(&sim.client, uri, ops).await;
    assert_eq!(json_patched.metadata.generation, Some(3));

    let env = json!([{"name": "B", "value": "2"}]);
    let containers = json!({"containers": [{"name": "app", "env": env}]});
    let strategic = json!({"spec": {"template": {"spec": containers}}});
    let patched = patch(&deploys, "web", Patch::Strategic(strategic)).await;
    let container = &patched.spec.template.spec.expect("pod spec").containers[0];
    assert_eq!(container.image.as_deref(), Some("shop/web:v2"));
    let names: Vec<_> = container
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["A", "B"]);

    let apply = Patch::Apply(json!({"apiVersion": "apps/v1", "kind": "Deployment"}));
    let refused = deploys
        .patch("web", &PatchParams::apply("test"), &apply)
        .await;
    assert_eq!(api_code(refused), 415);
}

#[tokio::test]
async fn nodes_are_cluster_scoped_and_cordoned_by_patch() {
    let sim = start().await;
    let nodes: Api<Node> = Api::all(sim.client.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "node-a"}})).expect("node");
    create(&nodes, &node).await;
    let cordon = Patch::Strategic(json!({"spec": {"unschedulable": true}}));
    let cordoned = patch(&nodes, "node-a", cordon).await;
    assert_eq!(cordoned.spec.and_then(|s| s.unschedulable), Some(true));
    let unschedulable = list(
        &nodes,
        ListParams::default().fields("spec.unschedulable=true"),
    )
    .await;
    assert_eq!(unschedulable.items.len(), 1);
    nodes
        .delete("node-a", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(list(&nodes, ListParams::default()).await.items.is_empty());
}

#[tokio::test]
async fn dry_run_all_leaves_the_cluster_unchanged() {
    let sim = start().await;
    let deploys: Api<Deployment> = sim.api();
    let dry_post = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let would_be = deploys
        .create(&dry_post, &deployment("ghost"))
        .await
        .expect("dry create");
    assert_eq!(would_be.name_any(), "ghost");
    assert!(sim.stored("deploy", "ghost").is_none());

    create(&deploys, &deployment("web")).await;
    let before = sim.cluster.resource_version();
    let dry_patch = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    let scale = Patch::Merge(json!({"spec": {"replicas": 9}}));
    let scaled = deploys
        .patch("web", &dry_patch, &scale)
        .await
        .expect("dry patch");
    assert_eq!(scaled.spec.replicas, Some(9));
    let dry_delete = DeleteParams {
        dry_run: true,
        ..DeleteParams::default()
    };
    deploys
        .delete("web", &dry_delete)
        .await
        .expect("dry delete");

    assert_eq!(sim.cluster.resource_version(), before);
    assert_eq!(
        sim.stored("deploy", "web").expect("still there")["spec"]["replicas"],
        2
    );
}

#[tokio::test]
async fn resource_versions_increase_and_stale_updates_conflict() {
    let sim = start().await;
    let pods: Api<Pod> = sim.api();
    let pp = PostParams::default();
    let first = create(&pods, &pod("web-1", json!({}))).await;
    let mut second = first.clone();
    second.labels_mut().insert("a".into(), "b".into());
    let updated = pods.replace("web-1", &pp, &second).await.expect("replace");
    assert!(rv(&updated) > rv(&first));

    assert_eq!(
        api_code(pods.replace("web-1", &pp, &second).await),
        409,
        "stale"
    );
    assert_eq!(
        api_code(pods.create(&pp, &pod("web-1", json!({}))).await),
        409,
        "exists"
    );
    let elsewhere: Api<Pod> = Api::namespaced(sim.client.clone(), "nowhere");
    let homeless: Pod = serde_json::from_value(pod_json("nowhere", "p", json!({}))).expect("pod");
    assert_eq!(
        api_code(elsewhere.create(&pp, &homeless).await),
        404,
        "no namespace"
    );
}

#[tokio::test]
async fn lists_page_with_limit_and_continue_and_span_namespaces() {
    let sim = start().await;
    for (ns, name) in [("a", "p1"), ("a", "p2"), ("b", "p3")] {
        sim.put(pod_json(ns, name, json!({})));
    }
    let all: Api<Pod> = Api::all(sim.client.clone());
    let first = list(&all, ListParams::default().limit(2)).await;
    assert_eq!(first.items.len(), 2);
    let token = first.metadata.continue_.clone().expect("continue token");
    let second = list(&all, ListParams::default().limit(2).continue_token(&token)).await;
    assert_eq!(
        second
            .items
            .iter()
            .map(|p| p.name_any())
            .collect::<Vec<_>>(),
        ["p3"]
    );
    assert!(second.metadata.continue_.is_none());
    let in_a = list(&all, ListParams::default().fields("metadata.namespace=a")).await;
    assert_eq!(in_a.items.len(), 2);
}

#[tokio::test]
async fn a_watcher_receives_an_object_created_after_it_started() {
    let sim = start().await;
    let mut events = watcher(sim.api::<Pod>(), watcher::Config::default()).boxed();
    while !matches!(events.try_next().await, Ok(Some(watcher::Event::InitDone))) {}
    sim.put(pod_json("default", "late", json!({})));
    let next = tokio::time::timeout(Duration::from_secs(5), events.try_next()).await;
    match next.expect("in time").expect("watch").expect("event") {
        watcher::Event::Apply(p) => assert_eq!(p.name_any(), "late"),
        other => panic!("expected the new pod, got {other:?}"),
    }
}

#[tokio::test]
async fn a_watch_from_a_compacted_resource_version_gets_410_expired() {
    let sim = start_with(SimOptions {
        watch_window: 3,
        ..SimOptions::default()
    })
    .await;
    let start_rv = sim.cluster.resource_version().to_string();
    for i in 0..6 {
        sim.put(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{i}")}}),
        );
    }
    let cms: Api<ConfigMap> = sim.api();
    let stream = cms
        .watch(&WatchParams::default(), &start_rv)
        .await
        .expect("watch");
    let events: Vec<_> = stream.try_collect().await.expect("events");
    match events.as_slice() {
        [WatchEvent::Error(e)] => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected one 410 error event, got {other:?}"),
    }
    let params = WatchParams::default().timeout(1).disable_bookmarks();
    let from = (sim.cluster.resource_version() - 2).to_string();
    let stream = cms.watch(&params, &from).await.expect("watch");
    let recent: Vec<_> = stream.try_collect().await.expect("events");
    assert_eq!(recent.len(), 2, "the last two writes are replayed");
}

#[tokio::test]
async fn kube_runtime_relists_after_its_watch_expires() {
    let sim = start_with(SimOptions {
        watch_window: 4,
        ..SimOptions::default()
    })
    .await;
    // Bookmarks off and a 1 s watch timeout: the watcher must resume from its list's
    // resourceVersion, which the writes below push out of the retained window.
    let config = watcher::Config::default()
        .labels("app=watched")
        .timeout(1)
        .disable_bookmarks();
    let mut events = watcher(sim.api::<Pod>(), config).boxed();
    let (mut inits, mut saw_410) = (0, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while inits < 2 {
        let next = tokio::time::timeout_at(deadline, events.next()).await;
        match next.expect("relisted in time").expect("stream continues") {
            Ok(watcher::Event::InitDone) => {
                inits += 1;
                for i in 0..10 {
                    sim.put(pod_json(
                        "default",
                        &format!("other-{inits}-{i}"),
                        json!({}),
                    ));
                }
            }
            Err(watcher::Error::WatchError(e)) if e.code == 410 => saw_410 = true,
            Ok(_) => {}
            Err(other) => panic!("unexpected watcher error {other:?}"),
        }
    }
    assert!(
        saw_410,
        "the resumed watch was told its resourceVersion is gone"
    );
}

#[tokio::test]
async fn pod_logs_serve_previous_and_tail_lines() {
    let sim = start().await;
    let mut web = pod_json("default", "web-1", json!({}));
    web["spec"]["containers"] =
        json!([{"name": "app", "image": "x"}, {"name": "proxy", "image": "y"}]);
    let restarted = json!({"name": "app", "restartCount": 1, "ready": true,
        "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1}}});
    web["status"] = json!({"containerStatuses": [restarted]});
    sim.put(web);
    sim.cluster.set_log(
        "default",
        "web-1",
        "app",
        true,
        "starting\npanic: nil map\n",
    );
    sim.cluster
        .set_log("default", "web-1", "app", false, "one\ntwo\nthree\n");
    let pods: Api<Pod> = sim.api();
    let app = |previous, tail_lines| LogParams {
        container: Some("app".into()),
        previous,
        tail_lines,
        ..LogParams::default()
    };
    let previous = pods
        .logs("web-1", &app(true, None))
        .await
        .expect("previous");
    assert_eq!(previous, "starting\npanic: nil map\n");
    assert_eq!(
        pods.logs("web-1", &app(false, Some(2)))
            .await
            .expect("tail"),
        "two\nthree\n"
    );
    let unnamed = pods.logs("web-1", &LogParams::default()).await;
    assert_eq!(api_code(unnamed), 400, "two containers and none named");
}

#[tokio::test]
async fn deployments_scale_and_status_subresources_change_only_their_part() {
    let sim = start().await;
    let deploys: Api<Deployment> = sim.api();
    let pp = PatchParams::default();
    create(&deploys, &deployment("web")).await;
    let scale = deploys.get_scale("web").await.expect("get scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
    assert_eq!(
        scale.status.and_then(|s| s.selector).as_deref(),
        Some("app=web")
    );
    let five = Patch::Merge(json!({"spec": {"replicas": 5}}));
    let scaled = deploys
        .patch_scale("web", &pp, &five)
        .await
        .expect("patch scale");
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(5));

    let status = Patch::Merge(json!({"spec": {"replicas": 1}, "status": {"readyReplicas": 5}}));
    let updated = deploys
        .patch_status("web", &pp, &status)
        .await
        .expect("patch status");
    assert_eq!(updated.status.and_then(|s| s.ready_replicas), Some(5));
    assert_eq!(updated.spec.replicas, Some(5), "status writes ignore spec");
    let main = Patch::Merge(json!({"status": {"readyReplicas": 0}}));
    let main = patch(&deploys, "web", main).await;
    assert_eq!(
        main.status.and_then(|s| s.ready_replicas),
        Some(5),
        "main writes ignore status"
    );
}

#[tokio::test]
async fn ten_thousand_pods_are_stored_and_listed_in_one_request() {
    let sim = start().await;
    for i in 0..10_000 {
        let namespace = format!("ns-{}", i % 10);
        sim.put(pod_json(
            &namespace,
            &format!("pod-{i}"),
            json!({"app": "bulk"}),
        ));
    }
    let pods: Api<Pod> = Api::all(sim.client.clone());
    assert_eq!(list(&pods, ListParams::default()).await.items.len(), 10_000);
    let one_namespace: Api<Pod> = Api::namespaced(sim.client.clone(), "ns-3");
    assert_eq!(
        list(&one_namespace, ListParams::default())
            .await
            .items
            .len(),
        1_000
    );
}
