//! The resource types the simulated apiserver serves, with the discovery facts kubectl needs.

/// One served resource type (a row of an `APIResourceList`).
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; "" for core/v1.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// The URL plural (`pods`).
    pub plural: &'static str,
    /// The singular name (`pod`).
    pub singular: &'static str,
    /// The object kind (`Pod`).
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl resolves (`po`).
    pub short_names: &'static [&'static str],
    /// Discovery categories (`all`).
    pub categories: &'static [&'static str],
    /// Whether the type has a `status` subresource (status is ignored on main-resource writes).
    pub has_status: bool,
    /// Whether the type has a `scale` subresource.
    pub has_scale: bool,
    /// Whether spec changes bump `metadata.generation`.
    pub tracks_generation: bool,
}

impl ResourceType {
    /// `v1` or `apps/v1`: the `apiVersion` of objects of this type.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `deployments.apps`: how the apiserver names the type in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

const fn rt(
    group: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
) -> ResourceType {
    ResourceType {
        group,
        version: "v1",
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        categories: NONE,
        has_status: false,
        has_scale: false,
        tracks_generation: false,
    }
}

const fn with_status(mut r: ResourceType) -> ResourceType {
    r.has_status = true;
    r
}

const fn workload(mut r: ResourceType, scale: bool) -> ResourceType {
    r.has_status = true;
    r.has_scale = scale;
    r.tracks_generation = true;
    r.categories = ALL;
    r
}

const fn version(mut r: ResourceType, version: &'static str) -> ResourceType {
    r.version = version;
    r
}

const fn in_all(mut r: ResourceType) -> ResourceType {
    r.categories = ALL;
    r
}

/// Every served resource type, in discovery order.
pub static RESOURCES: &[ResourceType] = &[
    with_status(rt(
        "",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
    )),
    with_status(rt("", "nodes", "node", "Node", false, &["no"])),
    in_all(with_status(rt("", "pods", "pod", "Pod", true, &["po"]))),
    rt("", "events", "event", "Event", true, &["ev"]),
    rt("", "configmaps", "configmap", "ConfigMap", true, &["cm"]),
    rt("", "secrets", "secret", "Secret", true, NONE),
    with_status(rt(
        "",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
    )),
    with_status(rt(
        "",
        "resourcequotas",
        "resourcequota",
        "ResourceQuota",
        true,
        &["quota"],
    )),
    rt(
        "",
        "limitranges",
        "limitrange",
        "LimitRange",
        true,
        &["limits"],
    ),
    workload(
        rt(
            "apps",
            "deployments",
            "deployment",
            "Deployment",
            true,
            &["deploy"],
        ),
        true,
    ),
    workload(
        rt(
            "apps",
            "replicasets",
            "replicaset",
            "ReplicaSet",
            true,
            &["rs"],
        ),
        true,
    ),
    // Stored as written: no controller of the simulated cluster rolls them out (their status and
    // ControllerRevisions are what a scenario or test writes), but the gatherer and kubectl read
    // them as from a real apiserver.
    workload(
        rt(
            "apps",
            "statefulsets",
            "statefulset",
            "StatefulSet",
            true,
            &["sts"],
        ),
        false,
    ),
    workload(
        rt(
            "apps",
            "daemonsets",
            "daemonset",
            "DaemonSet",
            true,
            &["ds"],
        ),
        false,
    ),
    rt(
        "apps",
        "controllerrevisions",
        "controllerrevision",
        "ControllerRevision",
        true,
        NONE,
    ),
    workload(rt("batch", "jobs", "job", "Job", true, NONE), false),
    workload(
        rt("batch", "cronjobs", "cronjob", "CronJob", true, &["cj"]),
        false,
    ),
    rt(
        "coordination.k8s.io",
        "leases",
        "lease",
        "Lease",
        true,
        NONE,
    ),
    // Stored as written (no controller computes their status): what else controls a workload.
    with_status(version(
        rt(
            "autoscaling",
            "horizontalpodautoscalers",
            "horizontalpodautoscaler",
            "HorizontalPodAutoscaler",
            true,
            &["hpa"],
        ),
        "v2",
    )),
    with_status(rt(
        "policy",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        true,
        &["pdb"],
    )),
];

/// The API groups served under `/apis`, in discovery order.
pub const GROUPS: &[&str] = &[
    "apps",
    "batch",
    "coordination.k8s.io",
    "autoscaling",
    "policy",
];

/// The one version served of `group` (`v1`, or `v2` for autoscaling).
pub fn version_of(group: &str) -> &'static str {
    RESOURCES
        .iter()
        .find(|r| r.group == group)
        .map_or("v1", |r| r.version)
}

/// The resource type at `/{group}/{version}/{plural}`.
pub fn by_path(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource type of an object from its `apiVersion` and `kind`.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// The resource type named loosely, as a test or scenario would: `Pod`, `pods`, `pod` or `po`.
pub fn by_name(name: &str) -> Option<&'static ResourceType> {
    RESOURCES.iter().find(|r| {
        r.kind.eq_ignore_ascii_case(name)
            || r.plural == name
            || r.singular == name
            || r.short_names.contains(&name)
    })
}

/// The resource types of one group/version.
pub fn in_group_version<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static ResourceType> + 'a {
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_find_types_by_path_kind_and_short_name() {
        assert_eq!(
            by_path("apps", "v1", "deployments").map(|r| r.kind),
            Some("Deployment")
        );
        assert_eq!(by_kind("v1", "Node").map(|r| r.plural), Some("nodes"));
        assert_eq!(by_name("po").map(|r| r.kind), Some("Pod"));
        assert_eq!(
            by_name("Deployment").map(|r| r.qualified()),
            Some("deployments.apps".into())
        );
        assert!(by_kind("apps/v1", "Pod").is_none());
    }
}
