//! Query templating and scrape targets: pure, so tested without anything running.

use k8s_openapi::api::core::v1::Pod;

use super::{QueryContext, render, scrape_url};
use crate::domain::playbook::MetricQuery;

fn query(text: &str) -> MetricQuery {
    MetricQuery {
        name: "q".into(),
        query: text.into(),
        range: false,
    }
}

fn context() -> QueryContext {
    QueryContext {
        namespace: "shop".into(),
        pod: "api-1".into(),
        container: "api".into(),
        workload: "api".into(),
        node: "worker-1".into(),
    }
}

#[test]
fn a_query_is_rendered_with_the_pod_it_is_about() {
    let q = query(
        r#"max_over_time(container_memory_working_set_bytes{namespace="{{ namespace }}", pod="{{ pod }}", container="{{ container }}"}[30m])"#,
    );
    assert_eq!(
        render(&q, &context()).expect("rendered"),
        r#"max_over_time(container_memory_working_set_bytes{namespace="shop", pod="api-1", container="api"}[30m])"#
    );
}

#[test]
fn a_value_cannot_close_the_promql_string_it_is_placed_in() {
    let mut c = context();
    c.pod = r#"x"} or vector(1) or {a="\"#.into();
    let rendered = render(&query(r#"up{pod="{{ pod }}"}"#), &c).expect("rendered");
    assert_eq!(rendered, r#"up{pod="x\"} or vector(1) or {a=\"\\"}"#);
}

#[test]
fn an_unknown_template_variable_is_an_error_not_an_empty_selector() {
    let error = render(&query(r#"up{pod="{{ podname }}"}"#), &context()).unwrap_err();
    assert!(error.contains("metric query q"), "{error}");
}

fn pod(yaml: &str) -> Pod {
    serde_yaml_ng::from_str(yaml).expect("pod")
}

#[test]
fn an_annotated_pod_is_scraped_at_its_ip_port_and_path() {
    let p = pod(
        "metadata: {name: a, annotations: {prometheus.io/scrape: 'true', prometheus.io/port: '8081', prometheus.io/path: actuator/prometheus}}\n\
         spec: {containers: [{name: a, ports: [{containerPort: 8080}]}]}\nstatus: {podIP: 10.1.2.3}\n",
    );
    assert_eq!(
        scrape_url(&p).as_deref(),
        Some("http://10.1.2.3:8081/actuator/prometheus")
    );
    let defaults = pod(
        "metadata: {name: a, annotations: {prometheus.io/scrape: 'true'}}\n\
         spec: {containers: [{name: a, ports: [{containerPort: 9090}]}]}\nstatus: {podIP: 'fd00::7'}\n",
    );
    assert_eq!(
        scrape_url(&defaults).as_deref(),
        Some("http://[fd00::7]:9090/metrics")
    );
}

#[test]
fn a_pod_without_the_annotation_or_an_ip_is_not_scraped() {
    let plain =
        pod("metadata: {name: a}\nspec: {containers: [{name: a}]}\nstatus: {podIP: 10.1.2.3}\n");
    assert_eq!(scrape_url(&plain), None);
    let pending = pod(
        "metadata: {name: a, annotations: {prometheus.io/scrape: 'true', prometheus.io/port: '80'}}\nspec: {containers: [{name: a}]}\nstatus: {}\n",
    );
    assert_eq!(scrape_url(&pending), None);
    let bad_port = pod(
        "metadata: {name: a, annotations: {prometheus.io/scrape: 'true', prometheus.io/port: http}}\nspec: {containers: [{name: a}]}\nstatus: {podIP: 10.1.2.3}\n",
    );
    assert_eq!(scrape_url(&bad_port), None);
}
