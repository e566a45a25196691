//! Request paths of the Kubernetes REST API, parsed into routes.

use super::resources::{self, ResourceType};

/// What a request path addresses.
#[derive(Debug, PartialEq)]
pub enum Route {
    /// `/version`
    Version,
    /// `/healthz`, `/livez`, `/readyz`
    Health,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/{group}`
    Group(String),
    /// `/api/v1` or `/apis/{group}/{version}`
    ResourceList(String, String),
    /// `/openapi/v3`
    OpenApiIndex,
    /// `/openapi/v3/api/v1` or `/openapi/v3/apis/{group}/{version}`
    OpenApi(String, String),
    /// A collection, object or subresource.
    Resource(ResourcePath),
    /// Anything else.
    Unknown,
}

/// A resource collection, object or subresource path.
#[derive(Debug, PartialEq)]
pub struct ResourcePath {
    /// The resource type.
    pub rt: &'static ResourceType,
    /// The namespace segment, if the path has one.
    pub namespace: Option<String>,
    /// The object name, if the path addresses one object.
    pub name: Option<String>,
    /// The subresource (`log`, `status`, `scale`), if any.
    pub subresource: Option<String>,
    /// Whether the path used the legacy `/watch/` prefix.
    pub legacy_watch: bool,
}

/// Parses a request path (without the query string).
pub fn parse(path: &str) -> Route {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "livez" | "readyz", ..] => Route::Health,
        ["openapi", "v3"] => Route::OpenApiIndex,
        ["openapi", "v3", "api", "v1"] => Route::OpenApi(String::new(), "v1".into()),
        ["openapi", "v3", "apis", group, version] => {
            Route::OpenApi(group.to_string(), version.to_string())
        }
        ["api"] => Route::CoreVersions,
        ["api", "v1"] => Route::ResourceList(String::new(), "v1".into()),
        ["api", "v1", rest @ ..] => resource("", "v1", rest),
        ["apis"] => Route::Groups,
        ["apis", group] if resources::GROUPS.contains(group) => Route::Group(group.to_string()),
        ["apis", group, version]
            if resources::in_group_version(group, version).next().is_some() =>
        {
            Route::ResourceList(group.to_string(), version.to_string())
        }
        ["apis", group, version, rest @ ..] => resource(group, version, rest),
        _ => Route::Unknown,
    }
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Route {
    let (legacy_watch, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let namespaced_path = match rest {
        ["namespaces", ns, plural, tail @ ..] => resources::by_path(group, version, plural)
            .filter(|rt| rt.namespaced)
            .map(|rt| (rt, Some(ns.to_string()), tail)),
        _ => None,
    };
    let (rt, namespace, tail) = match namespaced_path {
        Some(found) => found,
        None => match rest {
            [plural, tail @ ..] => match resources::by_path(group, version, plural) {
                Some(rt) => (rt, None, tail),
                None => return Route::Unknown,
            },
            [] => return Route::Unknown,
        },
    };
    let (name, subresource) = match tail {
        [] => (None, None),
        [name] => (Some(name.to_string()), None),
        [name, sub] => (Some(name.to_string()), Some(sub.to_string())),
        _ => return Route::Unknown,
    };
    if name.as_deref() == Some("") {
        return Route::Unknown;
    }
    Route::Resource(ResourcePath {
        rt,
        namespace,
        name,
        subresource,
        legacy_watch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> (&'static str, Option<String>, Option<String>, Option<String>) {
        match parse(path) {
            Route::Resource(r) => (r.rt.plural, r.namespace, r.name, r.subresource),
            other => panic!("{path} parsed as {other:?}"),
        }
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn namespaced_cluster_scoped_and_subresource_paths_parse() {
        assert_eq!(res("/api/v1/pods"), ("pods", None, None, None));
        assert_eq!(
            res("/api/v1/namespaces/shop/pods/web-1/log"),
            ("pods", s("shop"), s("web-1"), s("log"))
        );
        assert_eq!(
            res("/api/v1/nodes/node-a"),
            ("nodes", None, s("node-a"), None)
        );
        assert_eq!(
            res("/api/v1/namespaces/shop"),
            ("namespaces", None, s("shop"), None)
        );
        assert_eq!(
            res("/api/v1/namespaces/shop/status"),
            ("namespaces", None, s("shop"), s("status"))
        );
        assert_eq!(
            res("/apis/apps/v1/namespaces/shop/deployments/web/scale"),
            ("deployments", s("shop"), s("web"), s("scale"))
        );
    }

    #[test]
    fn discovery_and_unknown_paths_parse() {
        assert_eq!(parse("/api"), Route::CoreVersions);
        assert_eq!(
            parse("/apis/apps/v1"),
            Route::ResourceList("apps".into(), "v1".into())
        );
        assert_eq!(parse("/apis/apps"), Route::Group("apps".into()));
        assert_eq!(parse("/apis/networking.k8s.io/v1"), Route::Unknown);
        assert_eq!(parse("/api/v1/widgets"), Route::Unknown);
        assert_eq!(parse("/openapi/v3"), Route::OpenApiIndex);
        assert_eq!(parse("/openapi/v2"), Route::Unknown);
    }
}
