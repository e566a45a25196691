//! The access manifests nightshift needs beyond deploy/rbac.yaml, generated from the policy:
//! a RoleBinding per namespace nightshift may change (a RoleBinding cannot follow a glob, so
//! they are made for the namespaces that exist), and a ValidatingAdmissionPolicy that lets
//! nightshift's service account change only the fields the catalog changes. Pure: the caller
//! lists the namespaces; `nightshift rbac` prints what this returns.
//!
//! What the admission policy cannot express, and so does not check: a rollback replaces the pod
//! template with an older revision's, and CEL cannot read that revision, so any template change
//! on a Deployment is let through (RBAC bounds where; the audit log says what); the Deployment's
//! annotations change on a rollback (they follow the revision's), so they are not pinned either;
//! a field a later Kubernetes version adds to a spec is not pinned until it is listed here.

use serde_json::{Value, json};

use crate::domain::pattern::Glob;
use crate::domain::policy::Policy;

/// The ClusterRole (in deploy/rbac.yaml) holding the namespaced mutations; bound per namespace.
pub const ACTIONS_ROLE: &str = "nightshift-actions";

/// The admission policy's name.
pub const ADMISSION_POLICY: &str = "nightshift-catalog-changes-only";

/// Node labels that mark a control-plane node, which nightshift never cordons or uncordons.
pub const CONTROL_PLANE_LABELS: &[&str] = &[
    "node-role.kubernetes.io/control-plane",
    "node-role.kubernetes.io/master",
];

/// The service account nightshift runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl Default for Identity {
    fn default() -> Self {
        Self {
            namespace: "nightshift".into(),
            name: "nightshift".into(),
        }
    }
}

impl Identity {
    /// Parses `NAMESPACE/NAME`.
    pub fn parse(text: &str) -> Result<Identity, String> {
        match text.split_once('/') {
            Some((ns, name)) if is_dns_label(ns) && is_dns_label(name) => Ok(Identity {
                namespace: ns.into(),
                name: name.into(),
            }),
            _ => Err(format!(
                "`{text}` is not NAMESPACE/NAME of a service account (lower-case DNS labels)"
            )),
        }
    }

    /// The user name the apiserver gives its requests.
    pub fn username(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }
}

/// Whether `s` can name a namespace or a service account (an RFC 1123 DNS label).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Why a namespace gets no RoleBinding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// It matches `protected_namespaces`.
    Protected(String),
    /// It matches no glob of `allowed_namespaces`.
    NotAllowed(String),
}

/// Splits `existing` namespaces into those nightshift may change and those it may not.
pub fn bound_namespaces(policy: &Policy, existing: &[String]) -> (Vec<String>, Vec<Skipped>) {
    let mut bound = Vec::new();
    let mut skipped = Vec::new();
    let mut names: Vec<&String> = existing.iter().collect();
    names.sort();
    names.dedup();
    for ns in names {
        if policy.protected_namespaces.iter().any(|g| g.is_match(ns)) {
            skipped.push(Skipped::Protected(ns.clone()));
        } else if !policy.allowed_namespaces.iter().any(|g| g.is_match(ns)) {
            skipped.push(Skipped::NotAllowed(ns.clone()));
        } else {
            bound.push(ns.clone());
        }
    }
    (bound, skipped)
}

/// A RoleBinding granting [`ACTIONS_ROLE`] to `identity` in `namespace`.
pub fn role_binding(identity: &Identity, namespace: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": ACTIONS_ROLE,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "nightshift-rbac"},
        },
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": ACTIONS_ROLE,
        },
        "subjects": [{
            "kind": "ServiceAccount",
            "name": identity.name,
            "namespace": identity.namespace,
        }],
    })
}

/// The ValidatingAdmissionPolicy and its binding for `identity` under `policy`.
pub fn admission_policy(identity: &Identity, policy: &Policy) -> [Value; 2] {
    let policy_doc = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": ADMISSION_POLICY},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [
                rule("apps", &["deployments", "deployments/scale"]),
                rule("", &["pods", "nodes"]),
                rule("batch", &["cronjobs"]),
            ]},
            "matchConditions": [{
                "name": "is-nightshift",
                "expression": format!("request.userInfo.username == '{}'", identity.username()),
            }],
            "validations": validations(policy),
        },
    });
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": ADMISSION_POLICY},
        "spec": {
            "policyName": ADMISSION_POLICY,
            "validationActions": ["Deny"],
        },
    });
    [policy_doc, binding]
}

fn rule(group: &str, resources: &[&str]) -> Value {
    json!({
        "apiGroups": [group],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE", "DELETE"],
        "resources": resources,
    })
}

/// One CEL validation with the message the apiserver returns when it is false.
fn check(expression: String, message: &str) -> Value {
    json!({"expression": expression, "message": message, "reason": "Forbidden"})
}

fn validations(policy: &Policy) -> Vec<Value> {
    vec![
        check(
            "request.operation == 'UPDATE' || (request.operation == 'DELETE' \
             && request.resource.resource == 'pods' && request.subResource == '')"
                .into(),
            "nightshift only updates objects and deletes pods; it never creates or deletes anything else",
        ),
        check(
            format!(
                "request.namespace == '' || (request.namespace.matches('{}') \
                 && !request.namespace.matches('{}'))",
                globs_regex(&policy.allowed_namespaces),
                globs_regex(&policy.protected_namespaces)
            ),
            "nightshift may not change anything in this namespace (allowed_namespaces / protected_namespaces)",
        ),
        check(
            deployment_expression(),
            "nightshift may change only a Deployment's pod template (rollback, restart, resources) and its annotations (rollback)",
        ),
        check(
            format!(
                "request.resource.resource != 'deployments' || request.subResource != 'scale' \
                 || (object.spec.replicas >= {} && object.spec.replicas <= {})",
                policy.min_replicas, policy.max_replicas
            ),
            "nightshift may scale only within the policy's replica bounds",
        ),
        check(
            pod_expression(),
            "nightshift deletes only pods a controller owns (a bare pod would be lost for good)",
        ),
        check(
            node_expression(),
            "nightshift may change only spec.unschedulable of a Node, and never of a control-plane node",
        ),
        check(
            cronjob_expression(),
            "nightshift may only suspend a CronJob",
        ),
    ]
}

/// `field` (a path below `object.`/`oldObject.`) is the same before and after, present or not.
fn unchanged(field: &str) -> String {
    format!(
        "(has(object.{field}) == has(oldObject.{field}) \
         && (!has(object.{field}) || object.{field} == oldObject.{field}))"
    )
}

fn all_unchanged(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| unchanged(f))
        .collect::<Vec<_>>()
        .join(" && ")
}

fn deployment_expression() -> String {
    format!(
        "request.resource.resource != 'deployments' || request.subResource != '' \
         || request.operation != 'UPDATE' || ({})",
        all_unchanged(&[
            "metadata.labels",
            "metadata.ownerReferences",
            "metadata.finalizers",
            "spec.replicas",
            "spec.selector",
            "spec.strategy",
            "spec.minReadySeconds",
            "spec.revisionHistoryLimit",
            "spec.progressDeadlineSeconds",
            "spec.paused",
        ])
    )
}

fn pod_expression() -> String {
    "request.resource.resource != 'pods' || request.operation != 'DELETE' \
     || (has(oldObject.metadata.ownerReferences) \
     && oldObject.metadata.ownerReferences.exists(r, has(r.controller) && r.controller))"
        .into()
}

fn node_expression() -> String {
    let roles = CONTROL_PLANE_LABELS
        .iter()
        .map(|l| format!("'{l}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "request.resource.resource != 'nodes' || request.operation != 'UPDATE' \
         || ((!has(oldObject.metadata.labels) \
         || !oldObject.metadata.labels.exists(k, k in [{roles}])) && {})",
        all_unchanged(&[
            "metadata.labels",
            "metadata.annotations",
            "metadata.ownerReferences",
            "metadata.finalizers",
            "spec.taints",
            "spec.podCIDR",
            "spec.podCIDRs",
            "spec.providerID",
            "spec.configSource",
            "spec.externalID",
        ])
    )
}

fn cronjob_expression() -> String {
    format!(
        "request.resource.resource != 'cronjobs' || request.operation != 'UPDATE' \
         || (has(object.spec.suspend) && object.spec.suspend == true && {})",
        all_unchanged(&[
            "metadata.labels",
            "metadata.annotations",
            "metadata.ownerReferences",
            "metadata.finalizers",
            "spec.schedule",
            "spec.timeZone",
            "spec.jobTemplate",
            "spec.concurrencyPolicy",
            "spec.startingDeadlineSeconds",
            "spec.successfulJobsHistoryLimit",
            "spec.failedJobsHistoryLimit",
        ])
    )
}

/// One anchored RE2 expression matching what any of `globs` matches (`*`, `?`, `[...]`,
/// `{a,b}`), for CEL's `matches()`. No globs match nothing.
pub fn globs_regex(globs: &[Glob]) -> String {
    if globs.is_empty() {
        return "^$.".into();
    }
    let alternatives: Vec<String> = globs.iter().map(|g| glob_regex(g.as_str())).collect();
    format!("^(?:{})$", alternatives.join("|"))
}

fn glob_regex(glob: &str) -> String {
    let mut out = String::new();
    let mut in_class = false;
    let mut alternation = 0usize;
    for c in glob.chars() {
        match c {
            '!' if in_class && out.ends_with('[') => out.push('^'),
            _ if in_class => {
                if c == ']' {
                    in_class = false;
                }
                out.push(c);
            }
            '[' => {
                in_class = true;
                out.push('[');
            }
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '{' => {
                alternation += 1;
                out.push_str("(?:");
            }
            '}' if alternation > 0 => {
                alternation -= 1;
                out.push(')');
            }
            ',' if alternation > 0 => out.push('|'),
            c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => out.push(c),
            // Escape everything else; a quote must not end the CEL string literal.
            '\'' => out.push_str("\\\\x27"),
            c => {
                out.push('\\');
                out.push('\\');
                out.push(c);
            }
        }
    }
    out
}

/// Renders documents as one multi-document YAML stream.
pub fn to_yaml(documents: &[Value]) -> Result<String, serde_yaml_ng::Error> {
    let mut out = String::new();
    for doc in documents {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(doc)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
