//! The incident pages driven through their router with `oneshot`, on a SQLite store filled
//! through the store's API: list filters, formats, status codes, escaping and the order a
//! person paged at 2 AM reads things in.

mod pages_support;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use nightshift::pages::router;
use nightshift::store::Store;
use pages_support::{ANNOTATION_SCRIPT, AWAITING, LOG_SCRIPT, RESOLVED, at, store};
use serde_json::Value;
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    content_type: String,
    body: String,
}

async fn get(store: &Store, uri: &str, accept: Option<&str>) -> Reply {
    let mut request = Request::get(uri);
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let response = router(store.clone())
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = to_bytes(response.into_body(), 10 << 20)
        .await
        .expect("body");
    let body = String::from_utf8(bytes.to_vec()).expect("utf-8");
    Reply {
        status,
        content_type,
        body,
    }
}

/// Text as MiniJinja's HTML auto-escape writes it.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

async fn ids(store: &Store, query: &str) -> Vec<String> {
    let reply = get(
        store,
        &format!("/incidents{query}"),
        Some("application/json"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
    let json: Value = serde_json::from_str(&reply.body).expect("json");
    json["incidents"]
        .as_array()
        .expect("incidents")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn the_list_shows_every_incident_newest_first_as_html_by_default() {
    let store = store().await;
    let reply = get(&store, "/incidents", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type, "text/html; charset=utf-8");
    let (awaiting, resolved) = (
        reply.body.find(AWAITING).expect("awaiting listed"),
        reply.body.find(RESOLVED).expect("resolved listed"),
    );
    assert!(awaiting < resolved, "newest first:\n{}", reply.body);
    assert!(
        reply
            .body
            .contains(&format!("href=\"/incidents/{AWAITING}\""))
    );
    assert!(reply.body.contains("awaiting-approval"));
}

#[tokio::test]
async fn the_list_filters_by_state_namespace_category_and_since() {
    let store = store().await;
    assert_eq!(ids(&store, "").await, [AWAITING, RESOLVED]);
    assert_eq!(ids(&store, "?state=resolved").await, [RESOLVED]);
    assert_eq!(ids(&store, "?state=awaiting-approval").await, [AWAITING]);
    assert_eq!(ids(&store, "?namespace=shop").await, [AWAITING]);
    assert_eq!(
        ids(&store, "?category=bad-deploy").await,
        [AWAITING, RESOLVED]
    );
    assert!(ids(&store, "?category=oom-killed").await.is_empty());
    assert_eq!(ids(&store, "?since=2026-11-21T00:00:00Z").await, [AWAITING]);
    assert_eq!(
        ids(&store, "?namespace=payments&state=resolved").await,
        [RESOLVED]
    );
    assert!(
        ids(&store, "?namespace=payments&state=awaiting-approval")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_bad_filter_or_format_is_a_400_that_names_the_parameter() {
    let store = store().await;
    for (query, names) in [
        (
            "?state=sleeping",
            "query parameter `state`: unknown state `sleeping`",
        ),
        ("?category=gremlins", "query parameter `category`"),
        ("?namespace=Shop%3Bdrop", "query parameter `namespace`"),
        ("?since=yesterday", "query parameter `since`"),
        ("?format=pdf", "query parameter `format`"),
    ] {
        let reply = get(&store, &format!("/incidents{query}"), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(reply.body.contains(names), "{query}: {}", reply.body);
    }
    let reply = get(&store, &format!("/incidents/{RESOLVED}?format=pdf"), None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn one_incident_as_json_carries_its_id_and_engine_state_at_the_top_level() {
    let store = store().await;
    for (id, state) in [(RESOLVED, "resolved"), (AWAITING, "awaiting-approval")] {
        let reply = get(
            &store,
            &format!("/incidents/{id}"),
            Some("application/json"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.content_type, "application/json");
        let json: Value = serde_json::from_str(&reply.body).expect("json");
        assert_eq!(json["id"], id);
        assert_eq!(json["state"], state);
        assert!(json["audit"].as_array().is_some_and(|a| !a.is_empty()));
        assert!(json["plans"][0]["hash"].is_string());
    }
    let reply = get(&store, &format!("/incidents/{RESOLVED}?format=json"), None).await;
    assert_eq!(reply.content_type, "application/json");
}

#[tokio::test]
async fn markdown_comes_with_format_md_for_the_list_and_an_incident() {
    let store = store().await;
    let reply = get(
        &store,
        &format!("/incidents/{RESOLVED}?format=md"),
        Some("application/json"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type, "text/markdown; charset=utf-8");
    assert!(
        reply.body.starts_with("# Incident inc-payments-rollback"),
        "{}",
        reply.body
    );
    assert!(
        reply
            .body
            .contains("1. Roll back Deployment payments/payments-api to revision 6")
    );
    let list = get(&store, "/incidents?format=md&state=resolved", None).await;
    assert!(
        list.body.contains("**resolved** critical: crash-loop"),
        "{}",
        list.body
    );
    assert!(!list.body.contains(AWAITING));
}

#[tokio::test]
async fn an_unknown_incident_is_a_404_that_names_it() {
    let store = store().await;
    let reply = get(&store, "/incidents/inc-nope", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.body.contains("no incident `inc-nope`"));
    let long = "x".repeat(5000);
    let reply = get(&store, &format!("/incidents/{long}"), None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.body.len() < 200);
}

#[tokio::test]
async fn a_script_in_a_log_line_and_an_annotation_renders_as_text() {
    let store = store().await;
    let html = get(&store, &format!("/incidents/{AWAITING}"), None)
        .await
        .body;
    for planted in [LOG_SCRIPT, ANNOTATION_SCRIPT] {
        assert!(!html.contains(planted), "raw {planted} in:\n{html}");
        let escaped = escaped(planted);
        assert!(html.contains(&escaped), "{escaped} missing from:\n{html}");
    }
    assert_eq!(
        html.matches("<script>").count(),
        1,
        "only the page's own time script"
    );
    let md = get(&store, &format!("/incidents/{AWAITING}?format=md"), None)
        .await
        .body;
    assert!(
        md.contains("\\<script\\>alert('annotation')\\</script\\>"),
        "{md}"
    );
    assert!(
        md.contains("<script>alert('log')</script>"),
        "inside a code fence:\n{md}"
    );
    let fence_open = md.find("```text").expect("fence");
    let planted = md.find(LOG_SCRIPT).expect("log line");
    assert!(
        fence_open < planted && md[planted..].contains("```"),
        "{md}"
    );
}

#[tokio::test]
async fn what_nightshift_asks_of_you_comes_first_and_actions_read_as_sentences() {
    let store = store().await;
    let html = get(&store, &format!("/incidents/{AWAITING}"), None)
        .await
        .body;
    let ask = html.find("What nightshift asks of you").expect("ask");
    assert!(ask < html.find("<h2>Diagnosis</h2>").expect("diagnosis"));
    assert!(html.contains("Decide on plan"), "{html}");
    let sentence = escaped("Roll back Deployment shop/api to revision 6");
    assert!(html.contains(&format!("<li>{sentence}</li>")), "{html}");
    let check = escaped("The rollout of Deployment shop/api completes");
    assert!(html.contains(&check), "{html}");
    let approve = escaped("nightshift incidents approve inc-shop-awaiting --plan ");
    assert!(html.contains(&format!("<pre>{approve}")), "{html}");
    assert!(
        !html.contains("{&quot;namespace"),
        "raw JSON parameters:\n{html}"
    );
    assert!(
        html.contains("<time datetime=\"2026-11-21T03:00:00Z\" title=\"2026-11-21 03:00:00 UTC\">"),
        "{html}"
    );
}

#[tokio::test]
async fn verification_reads_as_a_checklist_of_what_was_observed() {
    let store = store().await;
    let html = get(&store, &format!("/incidents/{RESOLVED}"), None)
        .await
        .body;
    let observed = escaped("observed 3/3 replicas updated and available");
    let line = format!(
        "<span class=\"ok\">✓</span> rollout complete: <span class=\"meta\">{observed}</span>"
    );
    assert!(html.contains(&line), "{html}");
    assert!(html.contains("Nothing: it is resolved and verified."));
}

#[tokio::test]
async fn the_pause_banner_shows_on_every_incident_page() {
    let store = store().await;
    store
        .pause("carol", "bad deploy train", at("2026-11-21T03:05:00Z"))
        .await
        .expect("pause");
    let html = get(&store, &format!("/incidents/{AWAITING}"), None)
        .await
        .body;
    assert!(
        html.contains("<p class=\"paused\">nightshift is paused"),
        "{html}"
    );
    assert!(html.contains("carol"));
    let md = get(&store, &format!("/incidents/{RESOLVED}?format=md"), None)
        .await
        .body;
    assert!(md.contains("**nightshift is paused**"), "{md}");
}

#[tokio::test]
async fn an_incident_with_500_evidence_items_renders_and_its_render_time_is_printed() {
    use nightshift::domain::evidence::{EventFacts, Evidence, Facts};
    use nightshift::domain::signal::ObjectRef;
    use nightshift::report::{Format, render_at};

    let store = Store::connect("sqlite::memory:").await.expect("store");
    let id = "inc-many-items";
    pages_support::awaiting(&store, id, "shop", "api", "2026-11-21T03:00:00Z").await;
    let mut evidence = Evidence::default();
    for i in 0..500 {
        evidence.push(
            format!("event/shop/api.{i}"),
            Facts::Event(EventFacts {
                kind: "Warning".into(),
                reason: "BackOff".into(),
                message: format!("Back-off restarting failed container api ({i})"),
                object: ObjectRef::namespaced("Pod", "shop", "api-1"),
                count: 3,
                first_seen: None,
                last_seen: None,
                source: Some("kubelet".into()),
            }),
        );
    }
    store
        .record_evidence(id, &evidence, at("2026-11-21T03:00:01Z"))
        .await
        .expect("evidence");
    let record = store.load(id).await.expect("load").expect("exists");
    assert!(record.evidence.items.len() >= 500);
    let now = at("2026-11-21T03:10:00Z");
    for format in [Format::Html, Format::Markdown] {
        let started = std::time::Instant::now();
        let rounds = 5;
        let mut page = String::new();
        for _ in 0..rounds {
            page = render_at(&record, format, now).expect("render");
        }
        let each = started.elapsed() / rounds;
        println!(
            "render time, {} evidence items, {format:?}: {each:?} per page ({} bytes)",
            record.evidence.items.len(),
            page.len()
        );
        assert!(page.contains("api.499"), "the last item is shown");
    }
    let reply = get(&store, &format!("/incidents/{id}"), None).await;
    assert_eq!(reply.status, StatusCode::OK);
}
