//! A few thousand mutated Alertmanager payloads — truncated, bytes flipped, non-UTF-8, wrongly
//! typed, oversized, unknown labels, protected and unwatched namespaces — against the real
//! router over a real store. The daemon never panics, answers every request with a status it
//! documents, and every 2xx means each firing alert it took is in the store.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use nightshift::alerts::Webhook;
use nightshift::domain::scope::NamespaceScope;
use nightshift::http::alertmanager::{PATH, Webhooks};
use nightshift::http::health::Health;
use nightshift::http::{Auth, Parts};
use nightshift::pipeline::{fingerprint, select};
use nightshift::store::kinds;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

mod engine_support;
mod sim_harness;

use engine_support::{World, world};

const MUTATIONS: usize = 2500;
const MAX_BODY: usize = 16 * 1024;

/// xorshift64: reproducible mutations without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seed(rng: &mut Rng) -> Value {
    let namespaces = ["payments", "shop", "kube-system", "default", ""];
    let names = [
        "KubePodCrashLooping",
        "KubeDeploymentReplicasMismatch",
        "KubeNodeNotReady",
        "Weird<script>",
        "LatencyHigh",
    ];
    let alerts: Vec<Value> = (0..1 + rng.below(4))
        .map(|i| {
            let mut labels = json!({
                "alertname": names[rng.below(names.len())],
                "namespace": namespaces[rng.below(namespaces.len())],
            });
            let object = [
                "pod",
                "deployment",
                "node",
                "job_name",
                "statefulset",
                "unknown_label",
            ];
            let label = object[rng.below(object.len())];
            labels[label] = json!(format!("{label}-{}", rng.below(50)));
            json!({"status": if rng.below(4) == 0 { "resolved" } else { "firing" },
                "labels": labels, "annotations": {"summary": "x"},
                "startsAt": "2026-11-20T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "", "fingerprint": format!("fp{i}")})
        })
        .collect();
    json!({"version": "4", "groupKey": "g", "status": "firing", "receiver": "nightshift",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://am", "truncatedAlerts": 0, "alerts": alerts})
}

fn wrong_type(rng: &mut Rng, mut hook: Value) -> Value {
    let junk = [
        json!(42),
        json!(null),
        json!([1]),
        json!({"a": 1}),
        json!(true),
        json!("s"),
    ];
    let value = junk[rng.below(junk.len())].clone();
    match rng.below(5) {
        0 => hook["version"] = value,
        1 => hook["alerts"] = value,
        2 => hook["alerts"][0]["labels"] = value,
        3 => hook["alerts"][0]["startsAt"] = value,
        _ => hook["alerts"][0]["labels"]["namespace"] = value,
    }
    hook
}

fn mutate(rng: &mut Rng) -> Vec<u8> {
    let hook = seed(rng);
    let mut bytes = serde_json::to_vec(&hook).expect("json");
    match rng.below(8) {
        0 => bytes.truncate(rng.below(bytes.len())),
        1 => {
            let at = rng.below(bytes.len());
            bytes[at] ^= 1 << rng.below(8);
        }
        2 => {
            let at = rng.below(bytes.len());
            bytes.splice(at..at, [0xff, 0xfe, 0xc3]);
        }
        3 => bytes = serde_json::to_vec(&wrong_type(rng, hook)).expect("json"),
        4 => {
            let mut hook = hook;
            hook["alerts"][0]["annotations"]["description"] = json!("y".repeat(MAX_BODY));
            bytes = serde_json::to_vec(&hook).expect("json");
        }
        5 => bytes = "[".repeat(rng.below(2000)).into_bytes(),
        _ => {}
    }
    bytes
}

/// Whether every firing alert of an accepted payload in a watched namespace is in the store:
/// under its rule's fingerprint, or joined to its workload's open incident.
async fn persisted(w: &World, body: &[u8], watch: &NamespaceScope) -> Result<(), String> {
    let hook = Webhook::parse(body).map_err(|e| format!("a 2xx for an invalid payload: {e}"))?;
    for alert in hook.alerts.iter().filter(|a| a.status != "resolved") {
        let signal = alert.signal(w.now);
        if !watch.allows(signal.target.namespace.as_deref()) {
            continue;
        }
        let Some((signal, rule, _)) = select(std::slice::from_ref(&signal), &w.rules) else {
            continue;
        };
        let by_fingerprint = w
            .store
            .latest_by_fingerprint(&fingerprint(rule, signal))
            .await;
        let scope = signal.workload.as_ref().unwrap_or(&signal.target);
        let by_scope = w.store.open_on_scope(scope).await;
        let fp = fingerprint(rule, signal);
        if !matches!(by_fingerprint, Ok(Some(_)))
            && !matches!(by_scope, Ok(Some(_)))
            && !joined_anywhere(w, &fp).await
        {
            let all = w.store.list_incidents(10_000).await.expect("list");
            let near: Vec<String> = all
                .iter()
                .filter(|i| i.target == signal.target)
                .map(|i| format!("{i:?}"))
                .collect();
            return Err(format!(
                "alert {} on {} (rule {}, fingerprint {}) was answered 2xx but is not in the \
                 store; incidents on the same target: {near:?}",
                alert.name(),
                signal.target,
                rule.name,
                fingerprint(rule, signal)
            ));
        }
    }
    Ok(())
}

/// Whether a signal with `fingerprint` was recorded as joining some incident (the same
/// fingerprint seen earlier about another object joined an open incident there).
async fn joined_anywhere(w: &World, fingerprint: &str) -> bool {
    for summary in w.store.list_incidents(10_000).await.expect("list") {
        let record = w
            .store
            .load(&summary.id)
            .await
            .expect("load")
            .expect("record");
        if record.audit.iter().any(|a| {
            a.kind == kinds::SIGNAL_JOINED
                && a.detail.get("fingerprint").and_then(Value::as_str) == Some(fingerprint)
        }) {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn thousands_of_mutated_payloads_never_crash_the_daemon_and_every_2xx_was_persisted() {
    let w = world().await;
    let watch: NamespaceScope = serde_yaml_ng::from_str("exclude: [kube-system]").expect("scope");
    let app: Router = nightshift::http::app(Parts {
        auth: Arc::new(Auth::bearer("t")),
        max_body_bytes: MAX_BODY,
        health: Health {
            synced: Default::default(),
            draining: CancellationToken::new(),
        },
        webhooks: Webhooks {
            engine: w.engine(),
            watch: watch.clone(),
        },
        investigator: None,
    });
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut accepted, mut refused) = (0, 0);
    for n in 0..MUTATIONS {
        let body = mutate(&mut rng);
        let request = Request::post(PATH)
            .header(header::AUTHORIZATION, "Bearer t")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.clone()))
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let answer = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let answer: Value = serde_json::from_slice(&answer).unwrap_or_else(|e| {
            panic!("mutation {n}: the answer is not JSON ({e}), status {status}")
        });
        match status {
            StatusCode::OK => {
                accepted += 1;
                if let Err(problem) = persisted(&w, &body, &watch).await {
                    panic!(
                        "mutation {n}: {problem}\nanswer: {answer}\n{}",
                        String::from_utf8_lossy(&body)
                    );
                }
            }
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => {
                refused += 1;
                assert!(
                    answer["field"].is_string(),
                    "mutation {n}: no field named: {answer}"
                );
            }
            other => panic!("mutation {n}: unexpected {other}: {answer}"),
        }
    }
    assert!(
        accepted > MUTATIONS / 10 && refused > MUTATIONS / 10,
        "{accepted} accepted, {refused} refused"
    );
    let health = Request::get("/healthz")
        .body(Body::empty())
        .expect("request");
    assert_eq!(
        app.oneshot(health).await.expect("infallible").status(),
        StatusCode::OK
    );
}
