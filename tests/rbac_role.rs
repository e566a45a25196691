//! deploy/rbac.yaml grants exactly the union of the API access every component declares
//! (`nightshift::k8s::access`): it fails when code declares a verb the roles lack, and when a
//! role grants something no component declares. Mutations of namespaced objects are never bound
//! cluster-wide: they live in a ClusterRole that only the RoleBindings `nightshift rbac` prints
//! bind, per namespace — the executor's actions and the Kubernetes Events recorded on what they
//! changed (Events are what attackers forge). Each component's contract tests check that its calls match its
//! declaration.

use std::collections::BTreeSet;

use nightshift::k8s::access::{EVENTS, EXECUTOR, union, users};
use nightshift::k8s::manifests::ACTIONS_ROLE;

mod rbac;

/// Resources that belong to no namespace, so no RoleBinding can grant them.
const CLUSTER_SCOPED: &[&str] = &["nodes"];

const MUTATING_VERBS: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

fn is_namespaced_mutation(resource: &str, verb: &str) -> bool {
    MUTATING_VERBS.contains(&verb) && !CLUSTER_SCOPED.contains(&resource)
}

#[test]
fn the_roles_grant_exactly_what_the_components_declare() {
    let roles = rbac::Roles::load();
    let declared: BTreeSet<(String, String, String)> = union()
        .iter()
        .map(|a| (a.group.to_owned(), a.resource.to_owned(), a.verb.to_owned()))
        .collect();
    for access in union() {
        assert!(
            roles.allows(access.group, access.resource, access.verb),
            "deploy/rbac.yaml lacks {} on {} (group {:?}), declared by {:?}",
            access.verb,
            access.resource,
            access.group,
            users(&access)
        );
    }
    for (group, resource, verb) in roles.grants() {
        assert!(
            declared.contains(&(group.clone(), resource.clone(), verb.clone())),
            "deploy/rbac.yaml grants {verb} on {resource} (group {group:?}) but no component declares it"
        );
    }
}

#[test]
fn the_roles_never_grant_secrets() {
    let roles = rbac::Roles::load();
    for (_, resource, verb) in roles.grants() {
        assert!(
            !resource.starts_with("secrets"),
            "grants {verb} on {resource}"
        );
    }
}

#[test]
fn no_namespaced_mutation_is_bound_cluster_wide() {
    let roles = rbac::Roles::load();
    let wide = roles.cluster_wide_grants();
    assert!(
        !wide.is_empty(),
        "no ClusterRoleBinding: the reads would be unbound"
    );
    for (group, resource, verb) in wide {
        assert!(
            !is_namespaced_mutation(&resource, &verb),
            "a ClusterRoleBinding grants {verb} on {resource} (group {group:?}) in every namespace, \
             protected ones included; it belongs in {ACTIONS_ROLE}, bound per namespace"
        );
    }
}

#[test]
fn every_namespaced_mutation_the_executor_and_the_event_recorder_declare_is_in_the_per_namespace_role()
 {
    let roles = rbac::Roles::load();
    assert!(
        !roles.is_bound_cluster_wide(ACTIONS_ROLE),
        "{ACTIONS_ROLE} must only be bound by RoleBindings"
    );
    let per_namespace = roles.grants_of_role(ACTIONS_ROLE);
    let mut mutations = 0;
    for a in EXECUTOR.iter().chain(EVENTS) {
        if is_namespaced_mutation(a.resource, a.verb) {
            mutations += 1;
            let grant = (a.group.to_owned(), a.resource.to_owned(), a.verb.to_owned());
            assert!(
                per_namespace.contains(&grant),
                "{ACTIONS_ROLE} lacks {grant:?}"
            );
        }
    }
    assert!(
        mutations >= 6,
        "the executor declares its mutations, the event recorder its create and patch"
    );
    for (group, resource, verb) in per_namespace {
        assert!(
            is_namespaced_mutation(&resource, &verb),
            "{ACTIONS_ROLE} grants {verb} on {resource} (group {group:?}), which is no namespaced mutation"
        );
    }
}

#[test]
fn every_rule_of_the_roles_names_the_components_that_use_it() {
    let roles = rbac::Roles::load();
    for (comment, grants) in roles.commented_rules() {
        for (group, resource, verb) in &grants {
            let granted = union().into_iter().find(|a| {
                (a.group, a.resource, a.verb) == (group.as_str(), resource.as_str(), verb.as_str())
            });
            // A grant nobody declares fails the_roles_grant_exactly_what_the_components_declare.
            let Some(access) = granted else { continue };
            for component in users(&access) {
                assert!(
                    comment.contains(component),
                    "the comment above the rule granting {verb} on {resource} (group {group:?}) \
                     does not name the {component}, which uses it:\n{comment}"
                );
            }
        }
    }
}
