//! Which namespaces nightshift watches: include globs, then exclude globs. Cluster-scoped objects
//! (nodes) are always in scope.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::pattern::{Glob, any_match};

/// Namespace include/exclude globs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NamespaceScope {
    /// Namespaces to watch (globs). Default: every namespace.
    pub include: Vec<Glob>,
    /// Namespaces never to watch, even when included (globs).
    pub exclude: Vec<Glob>,
}

impl Default for NamespaceScope {
    fn default() -> Self {
        Self {
            include: vec![Glob::new("*").unwrap_or_else(|_| unreachable!("`*` is a valid glob"))],
            exclude: Vec::new(),
        }
    }
}

impl NamespaceScope {
    /// Whether an object in `namespace` (`None`: cluster-scoped) is watched.
    pub fn allows(&self, namespace: Option<&str>) -> bool {
        match namespace {
            None => true,
            Some(ns) => any_match(&self.include, ns) && !any_match(&self.exclude, ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NamespaceScope;
    use crate::domain::pattern::Glob;

    fn globs(list: &[&str]) -> Vec<Glob> {
        list.iter().map(|g| Glob::new(g).expect("glob")).collect()
    }

    #[test]
    fn by_default_every_namespace_is_watched() {
        let scope = NamespaceScope::default();
        assert!(scope.allows(Some("shop")));
        assert!(scope.allows(Some("kube-system")));
    }

    #[test]
    fn exclude_wins_over_include_and_cluster_scoped_objects_are_always_watched() {
        let scope = NamespaceScope {
            include: globs(&["shop-*", "payments"]),
            exclude: globs(&["shop-sandbox"]),
        };
        assert!(scope.allows(Some("shop-eu")));
        assert!(scope.allows(Some("payments")));
        assert!(!scope.allows(Some("shop-sandbox")));
        assert!(!scope.allows(Some("ledger")));
        assert!(
            scope.allows(None),
            "nodes have no namespace and are always in scope"
        );
    }
}
