//! What the kubelet checks before it can start a container: ConfigMap and Secret volumes
//! must exist to be mounted (`FailedMount`), and every non-optional `configMapKeyRef`,
//! `secretKeyRef`, `configMapRef` and `secretRef` must resolve
//! (`CreateContainerConfigError: secret "db-credentials" not found`).

use serde_json::Value;

use crate::sim::SimCluster;
use crate::sim::controllers::api;

fn optional(reference: &Value) -> bool {
    reference["optional"].as_bool() == Some(true)
}

/// (plural, message word, kind word for keys): `("configmaps", "configmap", "ConfigMap")`.
fn kind_words(secret: bool) -> (&'static str, &'static str, &'static str) {
    if secret {
        ("secrets", "secret", "Secret")
    } else {
        ("configmaps", "configmap", "ConfigMap")
    }
}

fn has_key(obj: &Value, key: &str) -> bool {
    obj["data"].get(key).is_some()
        || obj["stringData"].get(key).is_some()
        || obj["binaryData"].get(key).is_some()
}

/// The first volume that cannot be mounted, as the `FailedMount` event words it.
pub fn mount_error(cluster: &SimCluster, pod: &Value) -> Option<String> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    for volume in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let vname = volume["name"].as_str().unwrap_or_default();
        let refs = [
            (
                false,
                &volume["configMap"],
                volume["configMap"]["name"].as_str(),
            ),
            (
                true,
                &volume["secret"],
                volume["secret"]["secretName"].as_str(),
            ),
        ];
        for (secret, reference, name) in refs {
            let Some(name) = name else { continue };
            let (plural, word, _) = kind_words(secret);
            if !optional(reference) && api::get(cluster, plural, ns, name).is_none() {
                return Some(format!(
                    "MountVolume.SetUp failed for volume \"{vname}\" : {word} \"{name}\" not found"
                ));
            }
        }
    }
    None
}

/// Why the container cannot be created, as `CreateContainerConfigError`'s message says it.
pub fn container_config_error(
    cluster: &SimCluster,
    namespace: &str,
    container: &Value,
) -> Option<String> {
    for env in container["env"].as_array().into_iter().flatten() {
        let from = &env["valueFrom"];
        for (secret, reference) in [
            (false, &from["configMapKeyRef"]),
            (true, &from["secretKeyRef"]),
        ] {
            let Some(name) = reference["name"].as_str() else {
                continue;
            };
            let key = reference["key"].as_str().unwrap_or_default();
            if let Some(error) = resolve(
                cluster,
                namespace,
                secret,
                name,
                Some(key),
                optional(reference),
            ) {
                return Some(error);
            }
        }
    }
    for source in container["envFrom"].as_array().into_iter().flatten() {
        for (secret, reference) in [
            (false, &source["configMapRef"]),
            (true, &source["secretRef"]),
        ] {
            let Some(name) = reference["name"].as_str() else {
                continue;
            };
            if let Some(error) =
                resolve(cluster, namespace, secret, name, None, optional(reference))
            {
                return Some(error);
            }
        }
    }
    None
}

fn resolve(
    cluster: &SimCluster,
    namespace: &str,
    secret: bool,
    name: &str,
    key: Option<&str>,
    optional: bool,
) -> Option<String> {
    if optional {
        return None;
    }
    let (plural, word, kind) = kind_words(secret);
    let Some(obj) = api::get(cluster, plural, namespace, name) else {
        return Some(format!("{word} \"{name}\" not found"));
    };
    match key {
        Some(key) if !has_key(&obj, key) => Some(format!(
            "couldn't find key {key} in {kind} {namespace}/{name}"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn missing_secrets_keys_and_volumes_are_reported_like_the_kubelet() {
        let cluster = SimCluster::new();
        cluster
            .apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": "app", "namespace": "shop"}, "data": {"A": "1"}}))
            .expect("configmap");
        let c = |env: Value| json!({"name": "api", "env": [env]});
        let secret = json!({"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "url"}}});
        assert_eq!(
            container_config_error(&cluster, "shop", &c(secret)),
            Some("secret \"db-credentials\" not found".into())
        );
        let key =
            json!({"name": "B", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "B"}}});
        assert_eq!(
            container_config_error(&cluster, "shop", &c(key)),
            Some("couldn't find key B in ConfigMap shop/app".into())
        );
        let fine =
            json!({"name": "A", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "A"}}});
        assert_eq!(container_config_error(&cluster, "shop", &c(fine)), None);
        let pod = json!({"metadata": {"namespace": "shop"}, "spec": {"volumes": [
            {"name": "config", "configMap": {"name": "missing"}}]}});
        assert_eq!(
            mount_error(&cluster, &pod),
            Some(
                "MountVolume.SetUp failed for volume \"config\" : configmap \"missing\" not found"
                    .into()
            )
        );
    }
}
