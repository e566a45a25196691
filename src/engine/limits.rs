//! Rate limits on actions, per target and per namespace (governor). They are a second fence
//! behind the policy's actions-per-window rule, which counts what the store recorded: these
//! hold even when many incidents race for the same target within one process.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Rate-limit settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Mutating actions per minute on one target (a Deployment, a node).
    pub per_target_per_minute: u32,
    /// Mutating actions per minute in one namespace.
    pub per_namespace_per_minute: u32,
    /// How long an action may wait for its turn before it is skipped, in seconds.
    pub max_wait_seconds: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            per_target_per_minute: 2,
            per_namespace_per_minute: 10,
            max_wait_seconds: 30,
        }
    }
}

/// The limiters.
pub struct Limits {
    target: DefaultKeyedRateLimiter<String>,
    namespace: DefaultKeyedRateLimiter<String>,
    max_wait: Duration,
}

/// An action that may not run now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate limited: more than {limit} action(s) per minute on {key}")]
pub struct Limited {
    /// The target or namespace key.
    pub key: String,
    /// Its limit.
    pub limit: u32,
}

impl Limits {
    /// Limiters from settings (a zero limit is treated as one).
    pub fn new(settings: &LimitSettings) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            target: RateLimiter::keyed(quota(settings.per_target_per_minute)),
            namespace: RateLimiter::keyed(quota(settings.per_namespace_per_minute)),
            max_wait: Duration::from_secs(settings.max_wait_seconds),
        }
    }

    /// Forgets every target and namespace whose budget is whole again: governor keeps a key per
    /// target forever otherwise. The engine calls it on each poll.
    pub fn forget_idle(&self) {
        for limiter in [&self.target, &self.namespace] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// How many targets and namespaces are remembered.
    pub fn remembered(&self) -> usize {
        self.target.len() + self.namespace.len()
    }

    /// Takes a slot for an action on `target` in `namespace`, waiting up to the configured
    /// bound; `Limited` when it would wait longer.
    pub async fn acquire(
        &self,
        target: &str,
        namespace: Option<&str>,
        settings: &LimitSettings,
    ) -> Result<(), Limited> {
        let target_key = target.to_owned();
        tokio::time::timeout(self.max_wait, self.target.until_key_ready(&target_key))
            .await
            .map_err(|_| Limited {
                key: target_key,
                limit: settings.per_target_per_minute,
            })?;
        if let Some(ns) = namespace {
            let ns_key = ns.to_owned();
            tokio::time::timeout(self.max_wait, self.namespace.until_key_ready(&ns_key))
                .await
                .map_err(|_| Limited {
                    key: format!("namespace {ns_key}"),
                    limit: settings.per_namespace_per_minute,
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{LimitSettings, Limits};

    #[tokio::test]
    async fn a_target_over_its_per_minute_limit_is_refused_after_the_wait_bound() {
        let settings = LimitSettings {
            per_target_per_minute: 1,
            per_namespace_per_minute: 100,
            max_wait_seconds: 0,
        };
        let limits = Limits::new(&settings);
        limits
            .acquire("shop/checkout", Some("shop"), &settings)
            .await
            .expect("the first action runs");
        let refused = limits
            .acquire("shop/checkout", Some("shop"), &settings)
            .await
            .expect_err("the second within a minute does not");
        assert_eq!(refused.key, "shop/checkout");
        limits
            .acquire("shop/cart", Some("shop"), &settings)
            .await
            .expect("another target has its own budget");
    }

    #[tokio::test]
    async fn targets_whose_budget_is_whole_again_are_forgotten() {
        // 60 000 a minute: one slot comes back every millisecond.
        let settings = LimitSettings {
            per_target_per_minute: 60_000,
            per_namespace_per_minute: 60_000,
            max_wait_seconds: 0,
        };
        let limits = Limits::new(&settings);
        for target in ["shop/a", "shop/b", "shop/c"] {
            limits
                .acquire(target, Some("shop"), &settings)
                .await
                .expect("within budget");
        }
        assert_eq!(limits.remembered(), 4, "three targets and one namespace");
        let forgotten = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                limits.forget_idle();
                if limits.remembered() == 0 {
                    break;
                }
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(forgotten.is_ok(), "{} keys kept", limits.remembered());
    }

    #[tokio::test]
    async fn a_namespace_over_its_limit_is_refused_even_for_fresh_targets() {
        let settings = LimitSettings {
            per_target_per_minute: 10,
            per_namespace_per_minute: 2,
            max_wait_seconds: 0,
        };
        let limits = Limits::new(&settings);
        for target in ["shop/a", "shop/b"] {
            limits
                .acquire(target, Some("shop"), &settings)
                .await
                .expect("within budget");
        }
        let refused = limits
            .acquire("shop/c", Some("shop"), &settings)
            .await
            .expect_err("namespace budget spent");
        assert_eq!(refused.key, "namespace shop");
        limits
            .acquire("payments/a", Some("payments"), &settings)
            .await
            .expect("other namespace");
    }
}
