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

/// One ClusterRole of deploy/rbac.yaml.
struct Role {
    name: String,
    rules: Vec<Rule>,
    /// The comment lines written just above each rule.
    comments: Vec<String>,
}

/// The ClusterRoles of deploy/rbac.yaml and which of them a ClusterRoleBinding binds.
pub struct Roles {
    roles: Vec<Role>,
    bound_cluster_wide: BTreeSet<String>,
}

fn text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rbac.yaml");
    std::fs::read_to_string(path).expect("deploy/rbac.yaml")
}

/// The comment block above each `- apiGroups` rule of one YAML document.
fn rule_comments(document: &str) -> Vec<String> {
    let mut comments = Vec::new();
    let mut above = String::new();
    for line in document.lines() {
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
    comments
}

impl Roles {
    /// Loads every ClusterRole and ClusterRoleBinding of deploy/rbac.yaml; fails on wildcards.
    pub fn load() -> Roles {
        let text = text();
        let mut roles = Vec::new();
        let mut bound_cluster_wide = BTreeSet::new();
        for document in text.split("\n---") {
            let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(document).expect("yaml");
            let name = value["metadata"]["name"].as_str().unwrap_or("").to_owned();
            match value.get("kind").and_then(|k| k.as_str()) {
                Some("ClusterRole") => {
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
                    let comments = rule_comments(document);
                    assert_eq!(
                        comments.len(),
                        rules.len(),
                        "{name}: one comment block per rule"
                    );
                    roles.push(Role {
                        name,
                        rules,
                        comments,
                    });
                }
                Some("ClusterRoleBinding") => {
                    let role = value["roleRef"]["name"].as_str().expect("roleRef.name");
                    bound_cluster_wide.insert(role.to_owned());
                }
                _ => {}
            }
        }
        assert!(!roles.is_empty(), "no ClusterRole in deploy/rbac.yaml");
        Roles {
            roles,
            bound_cluster_wide,
        }
    }

    /// Each rule's grants with the comment lines written just above it, in file order.
    pub fn commented_rules(&self) -> Vec<(String, BTreeSet<Grant>)> {
        self.roles
            .iter()
            .flat_map(|role| {
                role.comments
                    .iter()
                    .cloned()
                    .zip(role.rules.iter().map(Self::grants_of))
            })
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

    /// Whether some ClusterRole allows `verb` on `resource` in `group`.
    pub fn allows(&self, group: &str, resource: &str, verb: &str) -> bool {
        self.grants()
            .contains(&(group.to_owned(), resource.to_owned(), verb.to_owned()))
    }

    /// Every (group, resource, verb) some ClusterRole grants.
    pub fn grants(&self) -> BTreeSet<Grant> {
        self.roles
            .iter()
            .flat_map(|role| role.rules.iter().flat_map(Self::grants_of))
            .collect()
    }

    /// What the ClusterRole `name` grants.
    pub fn grants_of_role(&self, name: &str) -> BTreeSet<Grant> {
        let role = self.roles.iter().find(|r| r.name == name);
        let role = role.unwrap_or_else(|| panic!("no ClusterRole {name} in deploy/rbac.yaml"));
        role.rules.iter().flat_map(Self::grants_of).collect()
    }

    /// What the ClusterRoles bound by a ClusterRoleBinding grant in every namespace.
    pub fn cluster_wide_grants(&self) -> BTreeSet<Grant> {
        self.roles
            .iter()
            .filter(|r| self.bound_cluster_wide.contains(&r.name))
            .flat_map(|role| role.rules.iter().flat_map(Self::grants_of))
            .collect()
    }

    /// Whether a ClusterRoleBinding binds the ClusterRole `name`.
    pub fn is_bound_cluster_wide(&self, name: &str) -> bool {
        self.bound_cluster_wide.contains(name)
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
