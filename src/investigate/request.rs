//! What a person asks: `{kind, namespace, name, question?}`, checked before anything is read.
//! Every field is untrusted text; a bad one is an error naming the field.

use serde::Deserialize;

use crate::domain::signal::{ObjectRef, canonical_kind, is_cluster_scoped};

/// The longest question kept (characters).
pub const MAX_QUESTION: usize = 2000;

/// An investigation request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The object's kind, as kubectl accepts it (`deployment`, `deploy`, `Deployment`).
    pub kind: String,
    /// Its namespace (`default` when not given; ignored for a Node).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// What the person wants to know; kept as the signal's message and shown in the report.
    #[serde(default)]
    pub question: Option<String>,
}

/// A request field that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BadRequest {
    /// The field (`kind`, `namespace`, `name`, `question`).
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl Request {
    /// From kubectl's `KIND/NAME` form (`deploy/checkout`).
    pub fn parse(
        object: &str,
        namespace: Option<String>,
        question: Option<String>,
    ) -> Result<Request, BadRequest> {
        let Some((kind, name)) = object.split_once('/') else {
            return Err(bad(
                "kind",
                format!("{object:?} is not KIND/NAME (for example deploy/checkout)"),
            ));
        };
        Ok(Request {
            kind: kind.to_owned(),
            namespace,
            name: name.to_owned(),
            question,
        })
    }

    /// The object asked about, once every field checks.
    pub fn target(&self) -> Result<ObjectRef, BadRequest> {
        let kind = canonical_kind(&self.kind).ok_or_else(|| {
            bad(
                "kind",
                format!(
                    "{:?} is not a kind nightshift investigates (pod, deployment, replicaset, \
                 statefulset, daemonset, job, cronjob, node, persistentvolumeclaim)",
                    shown(&self.kind)
                ),
            )
        })?;
        check_name("name", &self.name)?;
        let namespace = if is_cluster_scoped(kind) {
            None
        } else {
            let ns = self.namespace.as_deref().unwrap_or("default");
            check_name("namespace", ns)?;
            Some(ns.to_owned())
        };
        if let Some(q) = &self.question
            && q.chars().count() > MAX_QUESTION
        {
            return Err(bad(
                "question",
                format!("longer than {MAX_QUESTION} characters"),
            ));
        }
        Ok(ObjectRef {
            kind: kind.to_owned(),
            namespace,
            name: self.name.clone(),
        })
    }
}

/// A Kubernetes object name: 1 – 253 characters of `a-z`, `0-9`, `-` and `.`, starting and
/// ending alphanumeric.
fn check_name(field: &'static str, value: &str) -> Result<(), BadRequest> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let ok = !value.is_empty()
        && value.len() <= 253
        && value.chars().all(allowed)
        && ends_ok(value.chars().next())
        && ends_ok(value.chars().next_back());
    if ok {
        Ok(())
    } else {
        Err(bad(
            field,
            format!(
                "{:?} is not a Kubernetes object name (lowercase letters, digits, '-' and '.')",
                shown(value)
            ),
        ))
    }
}

/// At most 80 characters of untrusted text, for an error message.
fn shown(text: &str) -> String {
    text.chars().take(80).collect()
}

fn bad(field: &'static str, message: String) -> BadRequest {
    BadRequest { field, message }
}

#[cfg(test)]
mod tests {
    use super::{MAX_QUESTION, Request};

    fn request(kind: &str, namespace: Option<&str>, name: &str) -> Request {
        Request {
            kind: kind.into(),
            namespace: namespace.map(Into::into),
            name: name.into(),
            question: None,
        }
    }

    #[test]
    fn kinds_are_read_as_kubectl_reads_them_and_namespaces_default_to_default() {
        for kind in ["deployment", "deploy", "Deployment", "deployments.apps"] {
            let target = request(kind, None, "checkout").target().expect(kind);
            assert_eq!(target.to_string(), "Deployment/default/checkout", "{kind}");
        }
        let node = request("no", Some("shop"), "worker-1")
            .target()
            .expect("node");
        assert_eq!((node.kind.as_str(), node.namespace), ("Node", None));
    }

    #[test]
    fn each_bad_field_is_named() {
        let field = |r: Request| r.target().expect_err("bad").field;
        assert_eq!(field(request("service", None, "x")), "kind");
        assert_eq!(field(request("pod", None, "../etc")), "name");
        assert_eq!(field(request("pod", None, "")), "name");
        assert_eq!(field(request("pod", Some("Shop Floor"), "x")), "namespace");
        let mut long = request("pod", None, "x");
        long.question = Some("?".repeat(MAX_QUESTION + 1));
        assert_eq!(field(long), "question");
        assert_eq!(
            Request::parse("checkout", None, None)
                .expect_err("no slash")
                .field,
            "kind"
        );
        let parsed = Request::parse("deploy/checkout", Some("shop".into()), None).expect("ok");
        assert_eq!(
            parsed.target().expect("ok").to_string(),
            "Deployment/shop/checkout"
        );
    }
}
