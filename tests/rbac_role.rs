//! deploy/rbac.yaml grants exactly the union of the API access every component declares
//! (`nightshift::k8s::access`): it fails when code declares a verb the role lacks, and when the
//! role grants something no component declares. Each component's contract tests check that its
//! calls match its declaration.

use std::collections::BTreeSet;

use nightshift::k8s::access::{union, users};

mod rbac;

#[test]
fn the_cluster_role_grants_exactly_what_the_components_declare() {
    let role = rbac::ClusterRole::load();
    let declared: BTreeSet<(String, String, String)> = union()
        .iter()
        .map(|a| (a.group.to_owned(), a.resource.to_owned(), a.verb.to_owned()))
        .collect();
    for access in union() {
        assert!(
            role.allows(access.group, access.resource, access.verb),
            "deploy/rbac.yaml lacks {} on {} (group {:?}), declared by {:?}",
            access.verb,
            access.resource,
            access.group,
            users(&access)
        );
    }
    for (group, resource, verb) in role.grants() {
        assert!(
            declared.contains(&(group.clone(), resource.clone(), verb.clone())),
            "deploy/rbac.yaml grants {verb} on {resource} (group {group:?}) but no component declares it"
        );
    }
}

#[test]
fn the_cluster_role_never_grants_secrets() {
    let role = rbac::ClusterRole::load();
    for (_, resource, verb) in role.grants() {
        assert!(
            !resource.starts_with("secrets"),
            "grants {verb} on {resource}"
        );
    }
}

#[test]
fn every_rule_of_the_cluster_role_names_the_components_that_use_it() {
    let role = rbac::ClusterRole::load();
    for (comment, grants) in role.commented_rules() {
        for (group, resource, verb) in &grants {
            let granted = union().into_iter().find(|a| {
                (a.group, a.resource, a.verb) == (group.as_str(), resource.as_str(), verb.as_str())
            });
            // A grant nobody declares fails the_cluster_role_grants_exactly_what_the_components_declare.
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
