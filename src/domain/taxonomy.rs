//! The diagnosis taxonomy: the fixed set of categories a diagnosis may name (DESIGN.md).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What kind of failure an incident is. Serialized in kebab-case (`bad-deploy`), which is a
/// contract with tools outside the repository.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Failure began with the newest rollout (new image, args, env, config).
    BadDeploy,
    /// Container killed for exceeding its memory limit.
    OomKilled,
    /// Image cannot be pulled (bad tag, missing image, registry auth).
    ImagePull,
    /// A referenced ConfigMap, Secret, key or required env var is missing.
    ConfigMissing,
    /// The app cannot reach something it needs (DB, upstream, DNS).
    DependencyUnavailable,
    /// Liveness/readiness/startup probe failing or misconfigured.
    ProbeFailure,
    /// The process exits with an error not explained by the other categories.
    AppCrash,
    /// Pod cannot be scheduled (resources, taints, affinity, selectors).
    Unschedulable,
    /// Node NotReady or under memory/disk/PID pressure.
    NodeFailure,
    /// PVC pending, mount failure, storage class problem.
    VolumeFailure,
    /// RBAC forbidden, filesystem or security-context denial.
    PermissionDenied,
    /// Job exceeded its backoff limit or deadline.
    JobFailed,
    /// ResourceQuota or LimitRange rejects pods.
    QuotaExceeded,
    /// Not enough evidence to say.
    Unknown,
}

impl Category {
    /// Every category, in taxonomy order.
    pub const ALL: [Category; 14] = [
        Category::BadDeploy,
        Category::OomKilled,
        Category::ImagePull,
        Category::ConfigMissing,
        Category::DependencyUnavailable,
        Category::ProbeFailure,
        Category::AppCrash,
        Category::Unschedulable,
        Category::NodeFailure,
        Category::VolumeFailure,
        Category::PermissionDenied,
        Category::JobFailed,
        Category::QuotaExceeded,
        Category::Unknown,
    ];

    /// The wire name, as in DESIGN.md (`oom-killed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::BadDeploy => "bad-deploy",
            Category::OomKilled => "oom-killed",
            Category::ImagePull => "image-pull",
            Category::ConfigMissing => "config-missing",
            Category::DependencyUnavailable => "dependency-unavailable",
            Category::ProbeFailure => "probe-failure",
            Category::AppCrash => "app-crash",
            Category::Unschedulable => "unschedulable",
            Category::NodeFailure => "node-failure",
            Category::VolumeFailure => "volume-failure",
            Category::PermissionDenied => "permission-denied",
            Category::JobFailed => "job-failed",
            Category::QuotaExceeded => "quota-exceeded",
            Category::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Category;

    #[test]
    fn every_category_serializes_to_its_design_name() {
        for category in Category::ALL {
            let json = serde_json::to_string(&category).expect("serialize");
            assert_eq!(json, format!("\"{}\"", category.as_str()));
            let back: Category = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(back, category);
        }
    }

    #[test]
    fn an_unknown_category_name_is_rejected() {
        assert!(serde_json::from_str::<Category>("\"network-blip\"").is_err());
    }
}
