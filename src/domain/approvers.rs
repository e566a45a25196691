//! Who may answer a page for what: approver rules from the settings (`approvers:`), mapping
//! users or groups (from an auth proxy's group header) to namespaces and a highest risk, and how
//! many distinct approvers a plan needs (`approvers.two_person` names the risk from which two are
//! required). Pure: the HTTP links, the CLI and the engine's gate all ask these functions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::pattern::Glob;
use crate::domain::plan::Risk;

/// The `approvers:` settings section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ApproverPolicy {
    /// Who may approve or deny what. Empty: any authenticated caller may answer any page.
    pub rules: Vec<ApproverRule>,
    /// Plans at this risk or above need two distinct approvers (`low`, `medium`, `high`).
    /// Unset: one approval is enough.
    pub two_person: Option<Risk>,
}

/// One approver rule: any of `users` or `groups` may answer for `namespaces` up to `max_risk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproverRule {
    /// User names, as the auth proxy's user header or basic auth gives them.
    #[serde(default)]
    pub users: Vec<String>,
    /// Group names, from the proxy's group header (`http.groups_header`).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Namespaces (globs) the rule covers; `["*"]` for every namespace.
    pub namespaces: Vec<Glob>,
    /// The riskiest plan these approvers may approve (denying is allowed at any risk).
    pub max_risk: Risk,
}

/// Who is answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver<'a> {
    /// The user name.
    pub user: &'a str,
    /// The groups the user is in (empty without a group header).
    pub groups: &'a [String],
}

/// What the answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Approve the plan.
    Approve,
    /// Deny it.
    Deny,
}

/// Why someone may not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAllowed {
    /// No rule names this user or their groups for the namespace.
    #[error("{user} is not an approver for namespace {namespace}")]
    Namespace {
        /// The user.
        user: String,
        /// The namespace (`(cluster)` for a cluster-scoped target).
        namespace: String,
    },
    /// A rule covers the namespace, but only up to a lower risk.
    #[error(
        "{user} may approve plans up to {} risk in {namespace}, and this plan is {} risk",
        risk_name(*.max),
        risk_name(*.risk)
    )]
    Risk {
        /// The user.
        user: String,
        /// The namespace.
        namespace: String,
        /// The highest risk a rule allows.
        max: Risk,
        /// The plan's risk.
        risk: Risk,
    },
}

/// A risk as the settings spell it.
pub fn risk_name(risk: Risk) -> &'static str {
    match risk {
        Risk::None => "none",
        Risk::Low => "low",
        Risk::Medium => "medium",
        Risk::High => "high",
    }
}

impl ApproverRule {
    fn names(&self, who: &Approver<'_>) -> bool {
        self.users.iter().any(|u| u == who.user)
            || self.groups.iter().any(|g| who.groups.contains(g))
    }

    fn covers(&self, namespace: &str) -> bool {
        self.namespaces.iter().any(|glob| glob.is_match(namespace))
    }
}

impl ApproverPolicy {
    /// Whether `who` may give `intent` on a plan of `risk` for a target in `namespace`
    /// (`None`: cluster-scoped, matched as `(cluster)`).
    pub fn allows(
        &self,
        who: &Approver<'_>,
        namespace: Option<&str>,
        risk: Risk,
        intent: Intent,
    ) -> Result<(), NotAllowed> {
        if self.rules.is_empty() {
            return Ok(());
        }
        let namespace = namespace.unwrap_or("(cluster)");
        let covering: Vec<&ApproverRule> = self
            .rules
            .iter()
            .filter(|r| r.names(who) && r.covers(namespace))
            .collect();
        let Some(max) = covering.iter().map(|r| r.max_risk).max() else {
            return Err(NotAllowed::Namespace {
                user: who.user.to_owned(),
                namespace: namespace.to_owned(),
            });
        };
        if intent == Intent::Approve && risk > max {
            return Err(NotAllowed::Risk {
                user: who.user.to_owned(),
                namespace: namespace.to_owned(),
                max,
                risk,
            });
        }
        Ok(())
    }

    /// How many distinct approvers a plan of `risk` needs: 2 at or above `two_person`, else 1.
    pub fn required(&self, risk: Risk) -> usize {
        match self.two_person {
            Some(from) if risk >= from => 2,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Approver, ApproverPolicy, ApproverRule, Intent, NotAllowed};
    use crate::domain::pattern::Glob;
    use crate::domain::plan::Risk;

    fn rule(users: &[&str], groups: &[&str], namespaces: &[&str], max_risk: Risk) -> ApproverRule {
        ApproverRule {
            users: users.iter().map(|s| (*s).to_owned()).collect(),
            groups: groups.iter().map(|s| (*s).to_owned()).collect(),
            namespaces: namespaces
                .iter()
                .map(|n| Glob::new(n).expect("glob"))
                .collect(),
            max_risk,
        }
    }

    fn policy() -> ApproverPolicy {
        ApproverPolicy {
            rules: vec![
                rule(&["alice"], &[], &["shop-*"], Risk::Medium),
                rule(&[], &["sre"], &["*"], Risk::High),
            ],
            two_person: Some(Risk::High),
        }
    }

    fn user(name: &str) -> Approver<'_> {
        Approver {
            user: name,
            groups: &[],
        }
    }

    #[test]
    fn without_rules_anyone_may_answer_anything() {
        let open = ApproverPolicy::default();
        assert_eq!(
            open.allows(&user("bob"), Some("prod"), Risk::High, Intent::Approve),
            Ok(())
        );
        assert_eq!(open.required(Risk::High), 1);
    }

    #[test]
    fn a_user_may_approve_only_in_the_namespaces_a_rule_names() {
        let p = policy();
        assert_eq!(
            p.allows(
                &user("alice"),
                Some("shop-eu"),
                Risk::Medium,
                Intent::Approve
            ),
            Ok(())
        );
        assert!(matches!(
            p.allows(&user("alice"), Some("payments"), Risk::Low, Intent::Approve),
            Err(NotAllowed::Namespace { .. })
        ));
        assert!(matches!(
            p.allows(&user("mallory"), Some("shop-eu"), Risk::Low, Intent::Deny),
            Err(NotAllowed::Namespace { .. })
        ));
    }

    #[test]
    fn a_plan_riskier_than_the_rule_allows_is_refused_but_may_be_denied() {
        let p = policy();
        let err = p
            .allows(&user("alice"), Some("shop-eu"), Risk::High, Intent::Approve)
            .expect_err("too risky");
        assert!(err.to_string().contains("up to medium risk"), "{err}");
        assert_eq!(
            p.allows(&user("alice"), Some("shop-eu"), Risk::High, Intent::Deny),
            Ok(())
        );
    }

    #[test]
    fn a_group_from_the_proxy_grants_what_its_rule_says() {
        let p = policy();
        let groups = vec!["dev".to_owned(), "sre".to_owned()];
        let carol = Approver {
            user: "carol",
            groups: &groups,
        };
        assert_eq!(p.allows(&carol, None, Risk::High, Intent::Approve), Ok(()));
        assert!(matches!(
            p.allows(&user("carol"), None, Risk::Low, Intent::Approve),
            Err(NotAllowed::Namespace { namespace, .. }) if namespace == "(cluster)"
        ));
    }

    #[test]
    fn two_approvers_are_required_from_the_two_person_risk_up() {
        let p = policy();
        assert_eq!(p.required(Risk::Medium), 1);
        assert_eq!(p.required(Risk::High), 2);
    }
}
