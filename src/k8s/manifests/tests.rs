//! Globs as RE2, the namespaces that get a RoleBinding, service account names.
use regex::Regex;

use super::{Identity, Skipped, bound_namespaces, globs_regex};
use crate::domain::pattern::Glob;
use crate::domain::policy::Policy;

fn globs(list: &[&str]) -> Vec<Glob> {
    list.iter().map(|g| Glob::new(g).expect("glob")).collect()
}

/// The regex as the apiserver's RE2 sees it once the CEL string literal is read.
fn compiled(globs: &[Glob]) -> Regex {
    Regex::new(&globs_regex(globs).replace("\\\\", "\\")).expect("regex")
}

#[test]
fn glob_regexes_match_what_the_globs_match() {
    let cases = [
        ("kube-*", "kube-system", true),
        ("kube-*", "kubesystem", false),
        ("team-{a,b}", "team-b", true),
        ("team-{a,b}", "team-c", false),
        ("shop-?", "shop-1", true),
        ("shop-?", "shop-12", false),
        ("ns[0-9]", "ns7", true),
        ("ns[!0-9]", "ns7", false),
        ("a.b", "axb", false),
        ("*", "anything", true),
    ];
    for (glob, text, expected) in cases {
        let g = globs(&[glob]);
        assert_eq!(g[0].is_match(text), expected, "glob {glob} on {text}");
        assert_eq!(
            compiled(&g).is_match(text),
            expected,
            "regex of {glob} on {text}: {}",
            globs_regex(&g)
        );
    }
}

#[test]
fn no_globs_match_nothing() {
    assert!(!compiled(&[]).is_match(""));
    assert!(!compiled(&[]).is_match("shop"));
}

#[test]
fn protected_and_unallowed_namespaces_get_no_role_binding() {
    let policy = Policy {
        allowed_namespaces: globs(&["shop-*", "kube-system", "payments"]),
        ..Policy::default()
    };
    let existing: Vec<String> = ["shop-eu", "kube-system", "nightshift", "default", "shop-eu"]
        .map(String::from)
        .to_vec();
    let (bound, skipped) = bound_namespaces(&policy, &existing);
    assert_eq!(bound, vec!["shop-eu".to_string()]);
    assert_eq!(
        skipped,
        vec![
            Skipped::NotAllowed("default".into()),
            Skipped::Protected("kube-system".into()),
            Skipped::Protected("nightshift".into()),
        ]
    );
}

#[test]
fn a_service_account_is_namespace_slash_name() {
    assert_eq!(
        Identity::parse("ops/responder").map(|i| i.username()),
        Ok("system:serviceaccount:ops:responder".into())
    );
    for bad in ["responder", "ops/", "/x", "Ops/x", "ops/x'y", "a/b/c"] {
        assert!(Identity::parse(bad).is_err(), "{bad}");
    }
}
