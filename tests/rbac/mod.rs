//! Reads deploy/rbac.yaml, maps an HTTP call to the (apiGroup, resource, verb) RBAC checks, and
//! checks the calls a component's contract tests saw against its declaration in
//! `nightshift::k8s::access`.
#![allow(dead_code)]

use std::collections::BTreeSet;

use nightshift::k8s::access::ApiAccess;
use serde::Deserialize;

#[derive(Deserialize)]
struct Rule {
    #[serde(rename = "apiGroups")]
    api_groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
}

/// (apiGroup, resource, verb) as a rule grants it.
pub type Grant = (String, String, String);

/// The nightshift ClusterRole.
pub struct ClusterRole {
    rules: Vec<Rule>,
}

impl ClusterRole {
    /// Loads the ClusterRole from deploy/rbac.yaml; fails on wildcards.
    pub fn load() -> ClusterRole {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rbac.yaml");
        let text = std::fs::read_to_string(path).expect("deploy/rbac.yaml");
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = serde_yaml_ng::Value::deserialize(doc).expect("yaml");
            if value.get("kind").and_then(|k| k.as_str()) == Some("ClusterRole") {
                let rules: Vec<Rule> =
                    serde_yaml_ng::from_value(value.get("rules").cloned().expect("rules"))
                        .expect("rules shape");
                for rule in &rules {
                    for word in rule
                        .api_groups
                        .iter()
                        .chain(&rule.resources)
                        .chain(&rule.verbs)
                    {
                        assert!(!word.contains('*'), "wildcard `{word}` in deploy/rbac.yaml");
                    }
                }
                return ClusterRole { rules };
            }
        }
        panic!("no ClusterRole in deploy/rbac.yaml");
    }

    /// Each rule's grants with the comment lines written just above it, in file order.
    pub fn commented_rules(&self) -> Vec<(String, BTreeSet<Grant>)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rbac.yaml");
        let text = std::fs::read_to_string(path).expect("deploy/rbac.yaml");
        let role = text
            .split("\n---")
            .find(|doc| doc.contains("kind: ClusterRole\n"))
            .expect("the ClusterRole document");
        let mut comments = Vec::new();
        let mut above = String::new();
        for line in role.lines() {
            let trimmed = line.trim_start();
            if let Some(comment) = trimmed.strip_prefix('#') {
                above.push_str(comment);
                above.push('\n');
            } else if trimmed.starts_with("- apiGroups") {
                comments.push(std::mem::take(&mut above));
            } else if !line.starts_with("    ") {
                above.clear();
            }
        }
        assert_eq!(
            comments.len(),
            self.rules.len(),
            "one comment block per rule"
        );
        comments
            .into_iter()
            .zip(&self.rules)
            .map(|(comment, rule)| (comment, Self::grants_of(rule)))
            .collect()
    }

    fn grants_of(r: &Rule) -> BTreeSet<Grant> {
        let mut out = BTreeSet::new();
        for g in &r.api_groups {
            for x in &r.resources {
                for v in &r.verbs {
                    out.insert((g.clone(), x.clone(), v.clone()));
                }
            }
        }
        out
    }

    /// Whether the role allows `verb` on `resource` in `group`.
    pub fn allows(&self, group: &str, resource: &str, verb: &str) -> bool {
        self.rules.iter().any(|r| {
            r.api_groups.iter().any(|g| g == group)
                && r.resources.iter().any(|x| x == resource)
                && r.verbs.iter().any(|v| v == verb)
        })
    }

    /// Every (group, resource, verb) the role grants.
    pub fn grants(&self) -> BTreeSet<Grant> {
        self.rules.iter().flat_map(Self::grants_of).collect()
    }
}

/// (apiGroup, resource[/subresource], verb) for a request, as the apiserver's authorizer sees it.
pub fn classify(method: &str, path: &str) -> (String, String, String) {
    // A path may carry its query: `?watch=true` (or `watch=1`) makes a list a watch.
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let watching = query
        .split('&')
        .any(|kv| kv == "watch=true" || kv == "watch=1");
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.first() {
        Some(&"api") => (String::new(), &parts[2..]),
        _ => (parts[1].to_owned(), &parts[3..]),
    };
    let rest = if rest.first() == Some(&"namespaces") && rest.len() > 2 {
        &rest[2..]
    } else {
        rest
    };
    let resource = match rest {
        [resource] => resource.to_string(),
        [resource, _name] => resource.to_string(),
        [resource, _name, sub, ..] => format!("{resource}/{sub}"),
        _ => String::new(),
    };
    let named = rest.len() >= 2;
    let verb = match (method, named) {
        ("GET", true) => "get",
        ("GET", false) if watching => "watch",
        ("GET", false) => "list",
        ("PATCH", _) => "patch",
        ("PUT", _) => "update",
        ("POST", _) => "create",
        ("DELETE", _) => "delete",
        _ => "unknown",
    };
    (group, resource, verb.to_owned())
}

fn key(a: &ApiAccess) -> (String, String, String) {
    (a.group.to_owned(), a.resource.to_owned(), a.verb.to_owned())
}

/// Every call in `seen` is in the component's declaration.
pub fn assert_declared(component: &str, seen: &[(String, String)], declared: &[ApiAccess]) {
    let declared: BTreeSet<_> = declared.iter().map(key).collect();
    for (method, path) in seen {
        let (group, resource, verb) = classify(method, path);
        assert!(
            declared.contains(&(group.clone(), resource.clone(), verb.clone())),
            "the {component} called {method} {path} ({verb} on {resource}, group {group:?}), which its declaration lacks"
        );
    }
}

/// Every access the component declares was made by some call in `seen`.
pub fn assert_exercised(component: &str, seen: &[(String, String)], declared: &[ApiAccess]) {
    let made: BTreeSet<_> = seen.iter().map(|(m, p)| classify(m, p)).collect();
    for access in declared {
        assert!(
            made.contains(&key(access)),
            "the {component} declares {access:?} but no contract test exercised it"
        );
    }
}
