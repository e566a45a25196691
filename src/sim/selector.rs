//! Label and field selectors, parsed from query strings and matched against JSON objects.

use serde_json::Value;

use super::errors::{ApiError, ApiResult};
use super::meta;
use super::resources::ResourceType;

/// One label requirement.
#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed `labelSelector`; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelReq>);

/// A parsed `fieldSelector`: `(path, value, negated)` terms; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, String, bool)>);

/// Splits on commas outside parentheses.
fn split_terms(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0usize, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_set(rest: &str, term: &str) -> ApiResult<Vec<String>> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| unparsable(term))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn unparsable(term: &str) -> ApiError {
    ApiError::bad_request(format!(
        "unable to parse requirement: found '{term}', expected: in, notin, =, ==, !=, gt, lt"
    ))
}

fn parse_label_term(term: &str) -> ApiResult<LabelReq> {
    if let Some(key) = term.strip_prefix('!') {
        return Ok(LabelReq::NotExists(key.trim().to_string()));
    }
    if let Some((k, v)) = term.split_once("!=") {
        return Ok(LabelReq::NotEq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Ok(LabelReq::Eq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, rest)) = term.split_once(" notin ") {
        return Ok(LabelReq::NotIn(k.trim().into(), parse_set(rest, term)?));
    }
    if let Some((k, rest)) = term.split_once(" in ") {
        return Ok(LabelReq::In(k.trim().into(), parse_set(rest, term)?));
    }
    if term.contains(|c: char| c.is_whitespace() || c == '(' || c == ')') {
        return Err(unparsable(term));
    }
    Ok(LabelReq::Exists(term.to_string()))
}

impl LabelSelector {
    /// Parses a `labelSelector` query value.
    pub fn parse(s: &str) -> ApiResult<Self> {
        split_terms(s)
            .into_iter()
            .map(parse_label_term)
            .collect::<ApiResult<Vec<_>>>()
            .map(LabelSelector)
    }

    /// Whether the object's labels satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = meta::labels(obj);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|req| match req {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }
}

/// The field selectors the real apiserver supports for each type (beyond metadata.name and
/// metadata.namespace, which every type supports).
fn supported_fields(rt: &ResourceType) -> &'static [&'static str] {
    match rt.plural {
        "pods" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "events" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "nodes" => &["spec.unschedulable"],
        "secrets" => &["type"],
        "namespaces" => &["status.phase"],
        "replicasets" => &["status.replicas"],
        "jobs" => &["status.successful"],
        _ => &[],
    }
}

impl FieldSelector {
    /// Parses a `fieldSelector` query value, refusing fields the type does not support.
    pub fn parse(s: &str, rt: &ResourceType) -> ApiResult<Self> {
        let mut terms = Vec::new();
        for term in split_terms(s) {
            let (path, value, negated) = if let Some((p, v)) = term.split_once("!=") {
                (p, v, true)
            } else if let Some((p, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (p, v, false)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{term}'; can't understand '{term}'"
                )));
            };
            let path = path.trim();
            let known = matches!(path, "metadata.name" | "metadata.namespace")
                || supported_fields(rt).contains(&path);
            if !known {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {path}"
                )));
            }
            terms.push((path.to_string(), value.trim().to_string(), negated));
        }
        Ok(FieldSelector(terms))
    }

    /// Whether the object satisfies every term; a missing field compares as "".
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(path, want, negated)| {
            let actual = field_value(obj, path);
            (actual == *want) != *negated
        })
    }
}

fn field_value(obj: &Value, path: &str) -> String {
    let path = if path == "source" {
        "source.component"
    } else {
        path
    };
    let segments: Vec<&str> = path.split('.').collect();
    match meta::value_at(obj, &segments) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Null) | None => {
            if path == "spec.unschedulable" {
                "false".to_string()
            } else {
                String::new()
            }
        }
        Some(other) => other.to_string(),
    }
}

/// `metav1.FormatLabelSelector`: `app=web,tier in (a,b)`.
pub fn format_selector(selector: Option<&Value>) -> String {
    let Some(selector) = selector else {
        return "<none>".into();
    };
    let mut terms: Vec<String> = selector["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    for expr in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = expr["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = expr["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        terms.push(match expr["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            _ => format!("!{key}"),
        });
    }
    if terms.is_empty() {
        "<none>".into()
    } else {
        terms.join(",")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sim::resources::by_name;

    fn pod() -> Value {
        json!({"metadata": {"name": "web-1", "namespace": "shop",
                "labels": {"app": "web", "tier": "front"}},
               "spec": {"nodeName": "node-a"}, "status": {"phase": "Running"}})
    }

    #[test]
    fn label_selectors_support_equality_and_set_terms() {
        let m = |s: &str| LabelSelector::parse(s).map(|sel| sel.matches(&pod()));
        assert_eq!(m("app=web,tier==front"), Ok(true));
        assert_eq!(m("app!=web"), Ok(false));
        assert_eq!(m("app in (api, web),tier notin (back)"), Ok(true));
        assert_eq!(m("tier,!missing"), Ok(true));
        assert_eq!(m("missing"), Ok(false));
        assert_eq!(m(""), Ok(true));
        assert!(m("app in web").is_err());
    }

    #[test]
    fn field_selectors_match_supported_fields_and_refuse_others() {
        let pods = by_name("pods").expect("pods");
        let m = |s: &str| FieldSelector::parse(s, pods).map(|sel| sel.matches(&pod()));
        assert_eq!(m("spec.nodeName=node-a,metadata.namespace=shop"), Ok(true));
        assert_eq!(m("status.phase!=Running"), Ok(false));
        assert_eq!(m("spec.nodeName="), Ok(false));
        assert_eq!(m("spec.image=x").map_err(|e| e.code), Err(400));
        let nodes = by_name("nodes").expect("nodes");
        let sel = FieldSelector::parse("spec.unschedulable=false", nodes).expect("parses");
        assert!(sel.matches(&json!({"metadata": {"name": "n"}, "spec": {}})));
    }
}
