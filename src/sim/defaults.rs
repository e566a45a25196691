//! Defaulting and validation the apiserver applies on writes (the subset nightshift relies on).

use serde_json::{Map, Value, json};

use super::errors::{ApiError, ApiResult};
use super::meta::{self, default_field, object_mut};
use super::resources::ResourceType;

/// Fills the fields the real apiserver defaults, leaving any value already set alone.
pub fn apply_defaults(rt: &ResourceType, obj: &mut Value) {
    match rt.plural {
        "pods" => default_pod_spec(object_mut(obj, "spec")),
        "deployments" => {
            let spec = object_mut(obj, "spec");
            default_field(spec, "replicas", json!(1));
            default_field(spec, "revisionHistoryLimit", json!(10));
            default_field(spec, "progressDeadlineSeconds", json!(600));
            default_field(
                spec,
                "strategy",
                json!({"type": "RollingUpdate",
                       "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
            );
            default_template(spec);
        }
        "replicasets" => {
            let spec = object_mut(obj, "spec");
            default_field(spec, "replicas", json!(1));
            default_template(spec);
        }
        "jobs" => {
            let spec = object_mut(obj, "spec");
            default_field(spec, "backoffLimit", json!(6));
            default_field(spec, "completions", json!(1));
            default_field(spec, "parallelism", json!(1));
            default_field(spec, "completionMode", json!("NonIndexed"));
            default_field(spec, "suspend", json!(false));
            default_template(spec);
        }
        "cronjobs" => {
            let spec = object_mut(obj, "spec");
            default_field(spec, "concurrencyPolicy", json!("Allow"));
            default_field(spec, "suspend", json!(false));
            default_field(spec, "successfulJobsHistoryLimit", json!(3));
            default_field(spec, "failedJobsHistoryLimit", json!(1));
        }
        "namespaces" => {
            default_field(object_mut(obj, "spec"), "finalizers", json!(["kubernetes"]));
            default_field(object_mut(obj, "status"), "phase", json!("Active"));
        }
        "secrets" => {
            if let Some(map) = obj.as_object_mut() {
                default_field(map, "type", json!("Opaque"));
            }
        }
        "persistentvolumeclaims" => {
            default_field(object_mut(obj, "spec"), "volumeMode", json!("Filesystem"));
        }
        _ => {}
    }
}

fn default_template(spec: &mut Map<String, Value>) {
    let template = spec
        .entry("template")
        .or_insert_with(|| Value::Object(Map::new()));
    // The apiserver decodes into Go structs, so an unset template creationTimestamp comes back
    // as an explicit null (what `kubectl get deploy -o yaml` shows on a real cluster).
    default_field(
        object_mut(template, "metadata"),
        "creationTimestamp",
        Value::Null,
    );
    let pod_spec = object_mut(template, "spec");
    default_pod_spec(pod_spec);
}

fn default_pod_spec(spec: &mut Map<String, Value>) {
    default_field(spec, "restartPolicy", json!("Always"));
    default_field(spec, "terminationGracePeriodSeconds", json!(30));
    default_field(spec, "dnsPolicy", json!("ClusterFirst"));
    default_field(spec, "schedulerName", json!("default-scheduler"));
    default_field(spec, "securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(containers)) = spec.get_mut(list) {
            containers
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .for_each(default_container);
        }
    }
}

fn default_container(c: &mut Map<String, Value>) {
    let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
    let tag = image.rsplit('/').next().unwrap_or_default();
    let pull = if image.contains('@') || tag.contains(':') && !tag.ends_with(":latest") {
        "IfNotPresent"
    } else {
        "Always"
    };
    default_field(c, "imagePullPolicy", json!(pull));
    default_field(c, "terminationMessagePath", json!("/dev/termination-log"));
    default_field(c, "terminationMessagePolicy", json!("File"));
    default_field(c, "resources", json!({}));
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(Value::Object(p)) = c.get_mut(probe) {
            default_probe(p);
        }
    }
}

fn default_probe(p: &mut Map<String, Value>) {
    default_field(p, "timeoutSeconds", json!(1));
    default_field(p, "periodSeconds", json!(10));
    default_field(p, "successThreshold", json!(1));
    default_field(p, "failureThreshold", json!(3));
    if let Some(Value::Object(http)) = p.get_mut("httpGet") {
        default_field(http, "scheme", json!("HTTP"));
    }
}

/// The status a new object starts with when created over the API (client-sent status is
/// dropped for types with a status subresource, as the real apiserver does).
pub fn initial_status(rt: &ResourceType, obj: &Value) -> Option<Value> {
    match rt.plural {
        "pods" => Some(json!({"phase": "Pending", "qosClass": qos_class(obj)})),
        "namespaces" => Some(json!({"phase": "Active"})),
        "persistentvolumeclaims" => Some(json!({"phase": "Pending"})),
        _ if rt.has_status => Some(json!({})),
        _ => None,
    }
}

/// The pod's QoS class from its containers' requests and limits.
pub fn qos_class(pod: &Value) -> &'static str {
    let containers = meta::value_at(pod, &["spec", "containers"])
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let resources = |c: &Value, kind: &str| {
        c.get("resources")
            .and_then(|r| r.get(kind))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in containers {
        let (requests, limits) = (resources(c, "requests"), resources(c, "limits"));
        any |= !requests.is_empty() || !limits.is_empty();
        for res in ["cpu", "memory"] {
            let limit = limits.get(res);
            let request = requests.get(res).or(limit);
            guaranteed &= limit.is_some() && request == limit;
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// The validation the real apiserver does that callers are likely to trip on.
pub fn validate(rt: &ResourceType, obj: &Value) -> ApiResult<()> {
    let name = meta::name(obj);
    if !meta::is_dns_subdomain(name) {
        let cause = format!(
            "metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must \
             consist of lower case alphanumeric characters, '-' or '.', and must start and end \
             with an alphanumeric character"
        );
        return Err(ApiError::invalid(rt, name, &cause));
    }
    let containers = |path: &[&str]| {
        meta::value_at(obj, path)
            .and_then(Value::as_array)
            .is_some_and(|c| !c.is_empty())
    };
    match rt.plural {
        "pods" if !containers(&["spec", "containers"]) => Err(ApiError::invalid(
            rt,
            name,
            "spec.containers: Required value",
        )),
        "deployments" | "replicasets" | "jobs" => {
            if !containers(&["spec", "template", "spec", "containers"]) {
                return Err(ApiError::invalid(
                    rt,
                    name,
                    "spec.template.spec.containers: Required value",
                ));
            }
            validate_selector(rt, obj)
        }
        _ => Ok(()),
    }
}

fn validate_selector(rt: &ResourceType, obj: &Value) -> ApiResult<()> {
    let name = meta::name(obj);
    let selector =
        meta::value_at(obj, &["spec", "selector", "matchLabels"]).and_then(Value::as_object);
    let labels =
        meta::value_at(obj, &["spec", "template", "metadata", "labels"]).and_then(Value::as_object);
    match (selector, labels) {
        (None, _) if rt.plural != "jobs" => {
            Err(ApiError::invalid(rt, name, "spec.selector: Required value"))
        }
        (Some(sel), labels) => {
            let matches = sel
                .iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
            if matches {
                Ok(())
            } else {
                Err(ApiError::invalid(
                    rt,
                    name,
                    "spec.template.metadata.labels: Invalid value: `selector` does not match \
                     template `labels`",
                ))
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::resources::by_name;

    #[test]
    fn deployments_get_the_apiservers_defaults_without_losing_set_fields() {
        let rt = by_name("deploy").expect("deployments");
        let mut d = json!({"spec": {"replicas": 3, "template": {"spec": {
            "containers": [{"name": "app", "image": "shop/app:v2"}]}}}});
        apply_defaults(rt, &mut d);
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
    }

    #[test]
    fn qos_class_follows_requests_and_limits() {
        let pod = |res: Value| json!({"spec": {"containers": [{"name": "a", "resources": res}]}});
        assert_eq!(qos_class(&pod(json!({}))), "BestEffort");
        let both = json!({"limits": {"cpu": "1", "memory": "1Gi"}});
        assert_eq!(qos_class(&pod(both)), "Guaranteed");
        assert_eq!(
            qos_class(&pod(json!({"requests": {"memory": "1Gi"}}))),
            "Burstable"
        );
    }

    #[test]
    fn a_deployment_whose_selector_misses_its_template_is_invalid() {
        let rt = by_name("deploy").expect("deployments");
        let d = json!({"metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "api"}},
                         "spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        assert_eq!(validate(rt, &d).map_err(|e| e.code), Err(422));
    }
}
