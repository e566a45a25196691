//! Create, update and delete with the apiserver's bookkeeping: identity checks, uid and
//! creationTimestamp, generation, status-subresource rules, optimistic concurrency,
//! finalizers, no-op detection, managedFields and dry runs.

use std::sync::Arc;

use serde_json::{Value, json};

use super::bookkeeping::{
    carry_over, check_name_and_version, has_finalizers, record_manager, same_content,
    set_generation, set_identity,
};
use super::defaults;
use super::errors::{ApiError, ApiResult};
use super::meta::{self, metadata_mut};
use super::resources::{self, RESOURCES, ResourceType};
use super::store::{EventType, Key, Store};

/// Options every mutation accepts.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: compute and return the result without storing it.
    pub dry_run: bool,
    /// The `fieldManager` (or the client's user agent), recorded in `managedFields`.
    pub manager: Option<String>,
}

/// Which part of an existing object an update may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    /// The main resource: status changes are ignored for types with a status subresource.
    Main,
    /// The `status` subresource: only status changes are kept.
    Status,
    /// A direct write from the library (controllers, scenarios): everything is kept.
    Direct,
}

/// `DeleteOptions.preconditions`.
#[derive(Debug, Clone, Default)]
pub struct Preconditions {
    /// The object must have this uid.
    pub uid: Option<String>,
    /// The object must be at this resourceVersion.
    pub resource_version: Option<String>,
}

impl Store {
    /// Creates an object through the API (`POST`).
    pub fn create(
        &mut self,
        rt: &'static ResourceType,
        namespace: &str,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Arc<Value>> {
        set_identity(rt, namespace, &mut obj)?;
        if rt.namespaced && !self.namespace_exists(namespace) {
            let ns_type =
                resources::by_name("namespaces").ok_or_else(ApiError::no_such_resource)?;
            return Err(ApiError::not_found(ns_type, namespace));
        }
        self.fill_name(rt, namespace, &mut obj);
        let name = meta::name(&obj).to_string();
        if self.get(rt, namespace, &name).is_some() {
            return Err(ApiError::already_exists(rt, &name));
        }
        let now = self.now();
        let uid = self.ids.uid();
        let md = metadata_mut(&mut obj);
        for server_field in ["resourceVersion", "deletionTimestamp", "managedFields"] {
            md.remove(server_field);
        }
        md.insert("uid".into(), json!(uid));
        md.insert("creationTimestamp".into(), json!(now));
        if rt.tracks_generation {
            md.insert("generation".into(), json!(1));
        }
        defaults::apply_defaults(rt, &mut obj);
        defaults::validate(rt, &obj)?;
        if let Some(status) = defaults::initial_status(rt, &obj) {
            obj["status"] = status;
        }
        record_manager(
            &mut obj,
            opts.manager.as_deref(),
            &rt.api_version(),
            None,
            &now,
        );
        if opts.dry_run {
            return Ok(Arc::new(obj));
        }
        Ok(self.commit(rt, (namespace.to_string(), name), EventType::Added, obj))
    }

    fn fill_name(&mut self, rt: &ResourceType, namespace: &str, obj: &mut Value) {
        if !meta::name(obj).is_empty() {
            return;
        }
        let Some(prefix) = meta::str_at(obj, &["metadata", "generateName"]).map(str::to_string)
        else {
            return;
        };
        let name = loop {
            let candidate = format!("{prefix}{}", self.ids.suffix(5));
            if self.get(rt, namespace, &candidate).is_none() {
                break candidate;
            }
        };
        metadata_mut(obj).insert("name".into(), json!(name));
    }

    /// Replaces an existing object (`PUT`, a patch's result, or a direct library write).
    pub fn update(
        &mut self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        mut obj: Value,
        mode: UpdateMode,
        opts: &WriteOptions,
    ) -> ApiResult<Arc<Value>> {
        let old = self
            .get(rt, namespace, name)
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        set_identity(rt, namespace, &mut obj)?;
        check_name_and_version(rt, name, &old, &mut obj)?;
        let now = self.now();
        let (mut obj, subresource) = carry_over(rt, &old, obj, mode);
        defaults::apply_defaults(rt, &mut obj);
        if mode != UpdateMode::Status {
            defaults::validate(rt, &obj)?;
            set_generation(rt, &old, &mut obj, mode);
        }
        if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            md.insert(
                "resourceVersion".into(),
                old["metadata"]["resourceVersion"].clone(),
            );
        }
        record_manager(
            &mut obj,
            opts.manager.as_deref(),
            &rt.api_version(),
            subresource,
            &now,
        );
        if same_content(&old, &obj) {
            return Ok(old);
        }
        if opts.dry_run {
            return Ok(Arc::new(obj));
        }
        let key = (namespace.to_string(), name.to_string());
        let finished = meta::value_at(&obj, &["metadata", "deletionTimestamp"]).is_some()
            && !has_finalizers(&obj);
        let kind = if finished {
            EventType::Deleted
        } else {
            EventType::Modified
        };
        Ok(self.commit(rt, key, kind, obj))
    }

    /// Deletes an object (`DELETE`): at once, or by marking it when finalizers remain.
    pub fn delete(
        &mut self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        pre: &Preconditions,
        opts: &WriteOptions,
    ) -> ApiResult<Arc<Value>> {
        let old = self
            .get(rt, namespace, name)
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let precondition = |field: &str, want: &Option<String>| -> ApiResult<()> {
            let have = meta::str_at(&old, &["metadata", field]).unwrap_or_default();
            match want {
                Some(want) if want != have => Err(ApiError::conflict_message(
                    rt,
                    name,
                    &format!(
                        "Precondition failed: {field} in precondition: {want}, {field} in \
                         object meta: {have}"
                    ),
                )),
                _ => Ok(()),
            }
        };
        precondition("uid", &pre.uid)?;
        precondition("resourceVersion", &pre.resource_version)?;
        if opts.dry_run {
            return Ok(old);
        }
        let key: Key = (namespace.to_string(), name.to_string());
        if has_finalizers(&old) {
            if meta::value_at(&old, &["metadata", "deletionTimestamp"]).is_some() {
                return Ok(old);
            }
            let mut marked = (*old).clone();
            let now = self.now();
            let md = metadata_mut(&mut marked);
            md.insert("deletionTimestamp".into(), json!(now));
            md.insert("deletionGracePeriodSeconds".into(), json!(0));
            return Ok(self.commit(rt, key, EventType::Modified, marked));
        }
        if rt.plural == "namespaces" {
            for inner in RESOURCES.iter().filter(|r| r.namespaced) {
                for inner_key in self.keys_in(inner, name) {
                    if let Some(obj) = self.get(inner, &inner_key.0, &inner_key.1) {
                        self.commit(inner, inner_key, EventType::Deleted, (*obj).clone());
                    }
                }
            }
        }
        Ok(self.commit(rt, key, EventType::Deleted, (*old).clone()))
    }

    /// Creates or replaces an object as given, keeping its status, timestamps and uid when set
    /// (how tests, scenarios and the controllers write). Creates a missing namespace.
    pub fn put(&mut self, mut obj: Value) -> ApiResult<Arc<Value>> {
        let api_version = meta::str_at(&obj, &["apiVersion"])
            .unwrap_or_default()
            .to_string();
        let kind = meta::str_at(&obj, &["kind"])
            .unwrap_or_default()
            .to_string();
        let rt = resources::by_kind(&api_version, &kind).ok_or_else(|| {
            ApiError::bad_request(format!(
                "no kind \"{kind}\" is registered for version \"{api_version}\""
            ))
        })?;
        let namespace = match meta::namespace(&obj) {
            "" if rt.namespaced => "default".to_string(),
            ns => ns.to_string(),
        };
        if rt.namespaced && !self.namespace_exists(&namespace) {
            self.put(json!({"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": namespace}}))?;
        }
        set_identity(rt, &namespace, &mut obj)?;
        let name = meta::name(&obj).to_string();
        if name.is_empty() {
            return Err(ApiError::invalid(rt, "", "metadata.name: Required value"));
        }
        let opts = WriteOptions::default();
        metadata_mut(&mut obj).remove("resourceVersion");
        if self.get(rt, &namespace, &name).is_some() {
            return self.update(rt, &namespace, &name, obj, UpdateMode::Direct, &opts);
        }
        let now = self.now();
        let uid = self.ids.uid();
        let md = metadata_mut(&mut obj);
        md.entry("uid").or_insert(json!(uid));
        md.entry("creationTimestamp").or_insert(json!(now));
        if rt.tracks_generation {
            md.entry("generation").or_insert(json!(1));
        }
        defaults::apply_defaults(rt, &mut obj);
        Ok(self.commit(rt, (namespace, name), EventType::Added, obj))
    }
}
