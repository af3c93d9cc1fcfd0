//! The verbs, independent of HTTP: create, update, patch (JSON, merge, strategic, apply),
//! delete (finalizers, propagation), get and list, with Kubernetes semantics (uid,
//! generation, resourceVersion preconditions, dry-run, namespace lifecycle checks,
//! managedFields). The HTTP layer and the controllers both call these.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::State;
use crate::admission;
use crate::controllers;
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::openapi;
use crate::patch;
use crate::registry::{ResKey, ResourceInfo, crd_resources, get_path, set_path};
use crate::ssa;
use crate::store::{Obj, Store, WriteOp};

/// How unknown fields are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Strict,
    #[default]
    Warn,
    Ignore,
}

/// Options common to writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    pub dry_run: bool,
    pub field_manager: String,
    pub validation: FieldValidation,
    pub force: bool,
}

/// Which part of an object a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    Main,
    Status,
    Scale,
}

impl Sub {
    fn name(self) -> &'static str {
        match self {
            Sub::Main => "",
            Sub::Status => "status",
            Sub::Scale => "scale",
        }
    }
}

/// Patch flavours by content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

/// Delete options (from the body or the query).
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    pub dry_run: bool,
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

/// A successful write: HTTP code, object, and warnings for the `Warning` header.
pub struct Written {
    pub code: u16,
    pub object: Value,
    pub warnings: Vec<String>,
}

fn meta_str<'a>(v: &'a Value, f: &str) -> Option<&'a str> {
    v.get("metadata")
        .and_then(|m| m.get(f))
        .and_then(Value::as_str)
}

fn not_found(ri: &ResourceInfo, name: &str) -> ApiError {
    ApiError::not_found(&ri.qualified(), &ri.plural, &ri.group, name)
}

/// Parse a request body (JSON, or YAML for YAML content types).
pub fn parse_body(bytes: &[u8], content_type: &str) -> ApiResult<Value> {
    let ct = content_type.split(';').next().unwrap_or_default().trim();
    if ct == "application/vnd.kubernetes.protobuf" {
        return crate::proto::decode(bytes).map_err(|e| {
            if e.0.contains("not supported") {
                ApiError::unsupported_media(ct)
            } else {
                ApiError::bad_request(e.to_string())
            }
        });
    }
    if ct.contains("protobuf") || ct.contains("cbor") {
        return Err(ApiError::unsupported_media(ct));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request("request body is not valid UTF-8"))?;
    if ct.ends_with("yaml") {
        serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
    } else {
        serde_json::from_str::<Value>(text).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })
    }
}

/// Check apiVersion/kind of a body against the resource (filling them in when absent).
fn check_type(ri: &ResourceInfo, body: &mut Value) -> ApiResult<()> {
    let Some(obj) = body.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    };
    let av = ri.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            obj.insert("apiVersion".into(), json!(av));
        }
        Some(v) if v == av => {}
        Some(v) => {
            // Same group, other served version of a CRD: store under this version.
            let same_group = crate::registry::split_api_version(v).0 == ri.group && ri.custom;
            if !same_group {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({v}) does not match the expected API version ({av})"
                )));
            }
            obj.insert("apiVersion".into(), json!(av));
        }
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            obj.insert("kind".into(), json!(ri.kind));
        }
        Some(k) if k == ri.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                ri.kind
            )));
        }
    }
    match obj.get("metadata") {
        None | Some(Value::Null) => {
            obj.insert("metadata".into(), json!({}));
        }
        Some(Value::Object(_)) => {}
        Some(_) => return Err(ApiError::bad_request("metadata must be an object")),
    }
    Ok(())
}

/// Namespace lifecycle admission: the namespace must exist and not be terminating.
pub fn check_namespace(state: &State, ri: &ResourceInfo, ns: &str) -> ApiResult<()> {
    if !ri.namespaced {
        return Ok(());
    }
    let key = ResKey {
        group: String::new(),
        plural: "namespaces".into(),
    };
    match state.store.get(&key, "", ns) {
        None => Err(ApiError::not_found("namespaces", "namespaces", "", ns)),
        Some(n) if n.get("metadata").and_then(|m| m.get("deletionTimestamp")).is_some() => Err(ApiError::new(
            403,
            "Forbidden",
            format!("{} is forbidden: unable to create new content in namespace {ns} because it is being terminated", ri.qualified()),
        )
        .details("", &ri.group, &ri.plural)
        .with_cause("NamespaceTerminating", &format!("namespace {ns} is being terminated"), "metadata.namespace")),
        Some(_) => Ok(()),
    }
}

/// Validation shared by create and update: name, labels, schema (unknown fields), kind rules.
fn validate(
    ri: &ResourceInfo,
    obj: &Value,
    opts: &WriteOpts,
    is_create: bool,
) -> ApiResult<Vec<String>> {
    let name = meta_str(obj, "name").unwrap_or_default();
    let mut causes = Vec::new();
    if is_create && let Some(msg) = meta::validate_name(&ri.kind, name, ri.custom) {
        causes.push((
            "metadata.name".to_string(),
            format!("Invalid value: {name:?}: {msg}"),
        ));
    }
    causes.extend(meta::validate_labels(obj));
    causes.extend(controllers::validate_kind(ri, obj));
    if !causes.is_empty() {
        return Err(ApiError::invalid(&ri.kind, &ri.group, name, causes));
    }
    // A value of the wrong JSON type fails decoding whatever the fieldValidation.
    if let Some(message) = openapi::type_error(ri, obj) {
        let error = ApiError::bad_request(message);
        return Err(if is_create {
            as_decode_error(ri, error)
        } else {
            error
        });
    }
    let mut warnings = Vec::new();
    if opts.validation != FieldValidation::Ignore {
        let unknown = openapi::unknown_fields(ri, obj);
        if !unknown.is_empty() {
            if opts.validation == FieldValidation::Strict {
                let list: Vec<String> = unknown
                    .iter()
                    .map(|f| format!("unknown field \"{f}\""))
                    .collect();
                let error =
                    ApiError::bad_request(format!("strict decoding error: {}", list.join(", ")));
                return Err(if is_create {
                    as_decode_error(ri, error)
                } else {
                    error
                });
            }
            warnings.extend(unknown.iter().map(|f| format!("unknown field \"{f}\"")));
        }
    }
    Ok(warnings)
}

/// A strict decoding error as a create or update (PUT) reports it, having decoded the body as
/// the kind (a real server's `transformDecodeError`); patches answer it alone.
fn as_decode_error(ri: &ResourceInfo, mut e: ApiError) -> ApiError {
    if e.code == 400
        && (e.message.starts_with("strict decoding error:") || e.message.starts_with("json: "))
    {
        e.message = format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: {message}",
            kind = ri.kind,
            version = ri.version,
            message = e.message
        );
    }
    e
}

/// Create an object.
pub fn create(
    state: &State,
    ri: &ResourceInfo,
    ns: &str,
    body: Value,
    opts: &WriteOpts,
) -> ApiResult<Written> {
    create_with(state, ri, ns, body, opts, None)
}

/// Create with precomputed managedFields (server-side apply creating an object).
fn create_with(
    state: &State,
    ri: &ResourceInfo,
    ns: &str,
    mut body: Value,
    opts: &WriteOpts,
    managed: Option<Value>,
) -> ApiResult<Written> {
    check_type(ri, &mut body)?;
    let md = body["metadata"]
        .as_object_mut()
        .expect("checked by check_type");
    if ri.namespaced {
        match md.get("namespace").and_then(Value::as_str) {
            Some(n) if !n.is_empty() && n != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                md.insert("namespace".into(), json!(ns));
            }
        }
    } else {
        md.remove("namespace");
    }
    if md
        .get("resourceVersion")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
    {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let generated = md
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    let name = match md
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        Some(n) => n.to_string(),
        None => match md
            .get("generateName")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            Some(g) => format!("{g}{}", meta::random_suffix(5)),
            None => {
                return Err(ApiError::invalid(
                    &ri.kind,
                    &ri.group,
                    "",
                    vec![(
                        "metadata.name".into(),
                        "Required value: name or generateName is required".into(),
                    )],
                ));
            }
        },
    };
    md.insert("name".into(), json!(name));
    md.remove("deletionTimestamp");
    md.remove("deletionGracePeriodSeconds");
    md.remove("managedFields");
    md.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    md.insert("creationTimestamp".into(), json!(meta::now()));
    if ri.generation {
        md.insert("generation".into(), json!(1));
    } else {
        md.remove("generation");
    }
    controllers::default_object(state, ri, &mut body, None);
    let warnings = validate(ri, &body, opts, true)?;
    check_namespace(state, ri, ns)?;
    if ri.kind == "CustomResourceDefinition" && ri.group == "apiextensions.k8s.io" {
        crd_admit(state, &mut body)?;
    }
    let shown = match md_generate_name(&body) {
        Some(g) if generated => g,
        _ => name.clone(),
    };
    let quota_guard = admission::admit_create(state, ri, ns, &mut body, &shown)?;
    match managed {
        Some(m) => body["metadata"]["managedFields"] = m,
        None => ssa::track_update(
            None,
            &mut body,
            &opts.field_manager,
            &ri.api_version(),
            "",
            &meta::now(),
        ),
    }
    let store_ns = if ri.namespaced { ns } else { "" };
    let res = state
        .store
        .write(&ri.key(), store_ns, &name, opts.dry_run, |cur| {
            if cur.is_some() {
                return Err(ApiError::already_exists(
                    &ri.qualified(),
                    &ri.plural,
                    &ri.group,
                    &name,
                ));
            }
            Ok(WriteOp::Put(body))
        })?;
    if !opts.dry_run {
        after_write(state, ri, Some(&res.object));
        if quota_guard.is_some() {
            drop(quota_guard);
            admission::refresh_quotas(state, ns);
        }
        if ri.kind == "Namespace" && !ri.custom {
            controllers::namespace_created(state, &name);
        }
    }
    Ok(Written {
        code: 201,
        object: versioned(ri, &res.object),
        warnings,
    })
}

fn md_generate_name(v: &Value) -> Option<String> {
    meta_str(v, "generateName")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Validate a CRD and fill in its status (names accepted, Established).
fn crd_admit(state: &State, body: &mut Value) -> ApiResult<()> {
    let name = meta_str(body, "name").unwrap_or_default().to_string();
    let infos = crd_resources(body).map_err(|m| {
        ApiError::invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            &name,
            vec![("spec".into(), m)],
        )
    })?;
    let group = infos.first().map(|i| i.group.clone()).unwrap_or_default();
    let plural = infos.first().map(|i| i.plural.clone()).unwrap_or_default();
    if !infos.is_empty() && name != format!("{plural}.{group}") {
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            &name,
            vec![(
                "metadata.name".into(),
                format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
            )],
        ));
    }
    if infos.is_empty() {
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            &name,
            vec![(
                "spec.versions".into(),
                "Invalid value: must have exactly one version marked as storage version".into(),
            )],
        ));
    }
    // A built-in resource of the same group and plural cannot be redefined.
    if state
        .registry
        .all()
        .iter()
        .any(|r| !r.custom && r.group == group && r.plural == plural)
    {
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            &name,
            vec![(
                "spec.group".into(),
                "Invalid value: conflicts with a built-in resource".into(),
            )],
        ));
    }
    let names = body["spec"]["names"].clone();
    let mut accepted = names.clone();
    if accepted.get("singular").is_none() {
        accepted["singular"] = json!(infos[0].singular);
    }
    if accepted.get("listKind").is_none() {
        accepted["listKind"] = json!(format!("{}List", infos[0].kind));
    }
    let now = meta::now();
    let stored: Vec<Value> = body["spec"]["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    body["status"] = json!({
        "acceptedNames": accepted,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
        ],
        "storedVersions": stored,
    });
    Ok(())
}

/// Side effects of a committed write visible to the API at once (CRD registration).
fn after_write(state: &State, ri: &ResourceInfo, obj: Option<&Obj>) {
    if ri.kind == "CustomResourceDefinition"
        && ri.group == "apiextensions.k8s.io"
        && let Some(o) = obj
        && let Ok(infos) = crd_resources(o)
        && let Some(first) = infos.first()
    {
        let (g, p) = (first.group.clone(), first.plural.clone());
        state.registry.set_crd(&g, &p, infos);
    }
}

/// Unregister a deleted CRD.
pub fn crd_deleted(state: &State, crd: &Value) {
    if let Ok(infos) = crd_resources(crd)
        && let Some(first) = infos.first()
    {
        state
            .registry
            .set_crd(&first.group, &first.plural, Vec::new());
    }
}

/// An object as served under `ri`'s version (CRDs store one copy for all versions).
pub fn versioned(ri: &ResourceInfo, obj: &Value) -> Value {
    let mut v = obj.clone();
    if ri.custom {
        v["apiVersion"] = json!(ri.api_version());
    }
    v
}

/// Build the new stored object for an update of `cur` by `incoming` (already type-checked).
fn merge_update(
    state: &State,
    ri: &ResourceInfo,
    cur: &Value,
    mut incoming: Value,
    sub: Sub,
    opts: &WriteOpts,
) -> ApiResult<(WriteOp, Vec<String>)> {
    let name = meta_str(cur, "name").unwrap_or_default().to_string();
    if let Some(rv) = meta_str(&incoming, "resourceVersion").filter(|s| !s.is_empty())
        && Some(rv) != meta_str(cur, "resourceVersion")
    {
        return Err(ApiError::conflict(
            &ri.qualified(),
            &ri.plural,
            &ri.group,
            &name,
        ));
    }
    let mut new = match sub {
        Sub::Status => {
            let mut n = cur.clone();
            match incoming.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    if let Some(o) = n.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
            n
        }
        _ => {
            let md = incoming["metadata"]
                .as_object_mut()
                .expect("checked by check_type");
            for f in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "namespace",
                "name",
            ] {
                match cur.get("metadata").and_then(|m| m.get(f)) {
                    Some(v) => {
                        md.insert(f.into(), v.clone());
                    }
                    None => {
                        md.remove(f);
                    }
                }
            }
            if ri.has_status || ri.kind == "CustomResourceDefinition" {
                match cur.get("status") {
                    Some(s) => incoming["status"] = s.clone(),
                    None => {
                        if let Some(o) = incoming.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            incoming
        }
    };
    if let Some(md) = new["metadata"].as_object_mut() {
        md.insert(
            "resourceVersion".into(),
            cur["metadata"]["resourceVersion"].clone(),
        );
    }
    controllers::default_object(state, ri, &mut new, Some(cur));
    let warnings = validate(ri, &new, opts, false)?;
    if ri.kind == "CustomResourceDefinition" && ri.group == "apiextensions.k8s.io" {
        crd_admit(state, &mut new)?;
        // Keep the original establishment time.
        if let Some(c) = cur.get("status").and_then(|s| s.get("conditions")) {
            new["status"]["conditions"] = c.clone();
        }
    }
    if ri.generation && meta::spec_changed(cur, &new) {
        let g = cur["metadata"]["generation"].as_i64().unwrap_or(1);
        new["metadata"]["generation"] = json!(g + 1);
    }
    // managedFields: the body's entries are ignored unless explicitly emptied.
    let reset =
        matches!(new["metadata"].get("managedFields"), Some(Value::Array(a)) if a.is_empty());
    if let Some(md) = new["metadata"].as_object_mut() {
        md.remove("managedFields");
        if !reset && let Some(mf) = cur["metadata"].get("managedFields") {
            md.insert("managedFields".into(), mf.clone());
        }
    }
    let mut new_managed_base = cur.clone();
    if reset && let Some(md) = new_managed_base["metadata"].as_object_mut() {
        md.remove("managedFields");
    }
    ssa::track_update(
        Some(&new_managed_base),
        &mut new,
        &opts.field_manager,
        &ri.api_version(),
        sub.name(),
        &meta::now(),
    );
    Ok((finish(cur, new), warnings))
}

/// Decide between storing, deleting (finalizers gone while deleting) and a no-op.
fn finish(cur: &Value, new: Value) -> WriteOp {
    let deleting = cur["metadata"].get("deletionTimestamp").is_some();
    let finalizers_empty = new["metadata"]
        .get("finalizers")
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty());
    if deleting && finalizers_empty {
        return WriteOp::Delete;
    }
    if *cur == new {
        return WriteOp::Keep;
    }
    WriteOp::Put(new)
}

/// Replace an object (PUT).
pub fn update(
    state: &State,
    ri: &ResourceInfo,
    ns: &str,
    name: &str,
    mut body: Value,
    sub: Sub,
    opts: &WriteOpts,
) -> ApiResult<Written> {
    if sub == Sub::Scale {
        return scale_write(state, ri, ns, name, opts, |_| Ok(body));
    }
    check_type(ri, &mut body)?;
    if let Some(n) = meta_str(&body, "name")
        && n != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    if ri.namespaced
        && let Some(n) = meta_str(&body, "namespace").filter(|n| !n.is_empty())
        && n != ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let store_ns = if ri.namespaced { ns } else { "" };
    let mut warnings = Vec::new();
    let res = state
        .store
        .write(&ri.key(), store_ns, name, opts.dry_run, |cur| {
            let cur = cur.ok_or_else(|| not_found(ri, name))?;
            let (op, w) = merge_update(state, ri, cur, body, sub, opts)
                .map_err(|e| as_decode_error(ri, e))?;
            warnings = w;
            Ok(op)
        })?;
    if !opts.dry_run {
        after_write(state, ri, Some(&res.object));
        if res.etype == Some(crate::store::EventType::Deleted) {
            controllers::on_deleted(state, ri, &res.object);
        }
    }
    Ok(Written {
        code: 200,
        object: versioned(ri, &res.object),
        warnings,
    })
}

/// Patch an object (or create it, for server-side apply).
#[allow(clippy::too_many_arguments)]
pub fn patch(
    state: &State,
    ri: &ResourceInfo,
    ns: &str,
    name: &str,
    ptype: PatchType,
    body: &[u8],
    sub: Sub,
    opts: &WriteOpts,
) -> ApiResult<Written> {
    if ptype == PatchType::Strategic && ri.custom {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        ));
    }
    if ptype == PatchType::Apply && opts.field_manager.is_empty() {
        return Err(ApiError::bad_request(
            "PATCH, application/apply-patch+yaml requires fieldManager to be set",
        ));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("request body is not valid UTF-8"))?;
    let patch_value: Value = match ptype {
        PatchType::Apply => serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?,
        _ => serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?,
    };
    if sub == Sub::Scale {
        return scale_write(state, ri, ns, name, opts, |cur_scale| {
            let mut s = cur_scale;
            apply_patch_value(ptype, &mut s, &patch_value)?;
            Ok(s)
        });
    }
    let store_ns = if ri.namespaced { ns } else { "" };
    // Apply may create; creation must pass namespace admission first.
    let exists = state.store.get(&ri.key(), store_ns, name).is_some();
    if ptype == PatchType::Apply && !exists {
        let mut cfg = patch_value.clone();
        check_type(ri, &mut cfg)?;
        if let Some(n) = meta_str(&cfg, "name")
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        let mut new = ssa::apply(
            None,
            &cfg,
            &opts.field_manager,
            opts.force,
            &ri.api_version(),
            sub.name(),
            &meta::now(),
        )?;
        new["metadata"]["name"] = json!(name);
        let managed = new["metadata"].get("managedFields").cloned();
        return create_with(state, ri, ns, strip_managed(new), opts, managed);
    }
    let mut warnings = Vec::new();
    let res = state.store.write(&ri.key(), store_ns, name, opts.dry_run, |cur| {
        let cur = cur.ok_or_else(|| not_found(ri, name))?;
        let cur_v = versioned(ri, cur);
        let mut patched = match ptype {
            PatchType::Apply => {
                let mut cfg = patch_value.clone();
                check_type(ri, &mut cfg)?;
                if let Some(n) = meta_str(&cfg, "name")
                    && n != name {
                        return Err(ApiError::bad_request(format!(
                            "the name of the object ({n}) does not match the name on the URL ({name})"
                        )));
                    }
                let mut applied =
                    ssa::apply(Some(&cur_v), &cfg, &opts.field_manager, opts.force, &ri.api_version(), sub.name(), &meta::now())?;
                // Apply already computed managedFields; keep them through the update path.
                applied["metadata"]["resourceVersion"] = cur_v["metadata"]["resourceVersion"].clone();
                let op = apply_finish(state, ri, cur, applied, sub, opts)?;
                return Ok(op);
            }
            _ => {
                let mut v = cur_v.clone();
                apply_patch_value(ptype, &mut v, &patch_value)?;
                v
            }
        };
        check_type(ri, &mut patched)?;
        let (op, w) = merge_update(state, ri, cur, patched, sub, opts)?;
        warnings = w;
        Ok(op)
    })?;
    if !opts.dry_run {
        after_write(state, ri, Some(&res.object));
        if res.etype == Some(crate::store::EventType::Deleted) {
            controllers::on_deleted(state, ri, &res.object);
        }
    }
    Ok(Written {
        code: 200,
        object: versioned(ri, &res.object),
        warnings,
    })
}

fn strip_managed(mut v: Value) -> Value {
    if let Some(md) = v["metadata"].as_object_mut() {
        md.remove("managedFields");
    }
    v
}

/// The update path for an applied object whose managedFields are already computed.
fn apply_finish(
    state: &State,
    ri: &ResourceInfo,
    cur: &Value,
    mut applied: Value,
    sub: Sub,
    opts: &WriteOpts,
) -> ApiResult<WriteOp> {
    let managed = applied["metadata"].get("managedFields").cloned();
    for f in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "namespace",
        "name",
    ] {
        match cur.get("metadata").and_then(|m| m.get(f)) {
            Some(v) => applied["metadata"][f] = v.clone(),
            None => {
                if let Some(md) = applied["metadata"].as_object_mut() {
                    md.remove(f);
                }
            }
        }
    }
    if sub == Sub::Main && (ri.has_status || ri.kind == "CustomResourceDefinition") {
        match cur.get("status") {
            Some(s) => applied["status"] = s.clone(),
            None => {
                if let Some(o) = applied.as_object_mut() {
                    o.remove("status");
                }
            }
        }
    }
    controllers::default_object(state, ri, &mut applied, Some(cur));
    validate(ri, &applied, opts, false)?;
    if ri.kind == "CustomResourceDefinition" && ri.group == "apiextensions.k8s.io" {
        crd_admit(state, &mut applied)?;
        if let Some(c) = cur.get("status").and_then(|s| s.get("conditions")) {
            applied["status"]["conditions"] = c.clone();
        }
    }
    if ri.generation && meta::spec_changed(cur, &applied) {
        let g = cur["metadata"]["generation"].as_i64().unwrap_or(1);
        applied["metadata"]["generation"] = json!(g + 1);
    }
    if let Some(m) = managed {
        applied["metadata"]["managedFields"] = m;
    }
    Ok(finish(cur, applied))
}

fn apply_patch_value(ptype: PatchType, target: &mut Value, p: &Value) -> ApiResult<()> {
    match ptype {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(p.clone())
                .map_err(|e| ApiError::bad_request(format!("error decoding JSON patch: {e}")))?;
            json_patch::patch(target, &ops).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
        }
        PatchType::Merge => {
            if !p.is_object() {
                return Err(ApiError::bad_request("merge patch must be a JSON object"));
            }
            patch::merge_patch(target, p)
        }
        PatchType::Strategic => {
            if !p.is_object() {
                return Err(ApiError::bad_request(
                    "strategic merge patch must be a JSON object",
                ));
            }
            patch::strategic_merge(target, p).map_err(ApiError::bad_request)?
        }
        PatchType::Apply => {
            patch::merge_patch(target, p);
        }
    }
    Ok(())
}

/// The `autoscaling/v1` Scale view of an object.
pub fn scale_of(ri: &ResourceInfo, obj: &Value) -> ApiResult<Value> {
    let sc = ri.scale.as_ref().ok_or_else(|| {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    })?;
    let spec = get_path(obj, &sc.spec_replicas)
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let status = get_path(obj, &sc.status_replicas)
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let selector = match &sc.label_selector {
        Some(p) => get_path(obj, p).cloned().map(|v| match v {
            Value::String(s) => s,
            other => crate::selectors::LabelSelector::from_object(&other).to_query(),
        }),
        None => None,
    }
    .or_else(|| {
        obj["spec"]
            .get("selector")
            .map(|s| crate::selectors::LabelSelector::from_object(s).to_query())
    });
    let md = &obj["metadata"];
    let mut status_obj = json!({"replicas": status});
    if let Some(s) = selector.filter(|s| !s.is_empty()) {
        status_obj["selector"] = json!(s);
    }
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": md["name"], "namespace": md["namespace"], "uid": md["uid"],
            "resourceVersion": md["resourceVersion"], "creationTimestamp": md["creationTimestamp"],
        },
        "spec": {"replicas": spec},
        "status": status_obj,
    }))
}

fn scale_write(
    state: &State,
    ri: &ResourceInfo,
    ns: &str,
    name: &str,
    opts: &WriteOpts,
    f: impl FnOnce(Value) -> ApiResult<Value>,
) -> ApiResult<Written> {
    let sc = ri.scale.clone().ok_or_else(|| {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    })?;
    let store_ns = if ri.namespaced { ns } else { "" };
    let res = state
        .store
        .write(&ri.key(), store_ns, name, opts.dry_run, |cur| {
            let cur = cur.ok_or_else(|| not_found(ri, name))?;
            let scale = f(scale_of(ri, cur)?)?;
            if let Some(rv) = scale["metadata"]
                .get("resourceVersion")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                && Some(rv) != meta_str(cur, "resourceVersion")
            {
                return Err(ApiError::conflict(
                    &ri.qualified(),
                    &ri.plural,
                    &ri.group,
                    name,
                ));
            }
            let replicas = scale["spec"]["replicas"].as_i64().ok_or_else(|| {
                ApiError::invalid(
                    "Scale",
                    "autoscaling",
                    name,
                    vec![("spec.replicas".into(), "Required value".into())],
                )
            })?;
            if replicas < 0 {
                return Err(ApiError::invalid(
                    "Scale",
                    "autoscaling",
                    name,
                    vec![(
                        "spec.replicas".into(),
                        format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                    )],
                ));
            }
            let mut new = (**cur).clone();
            set_path(&mut new, &sc.spec_replicas, json!(replicas));
            if ri.generation && meta::spec_changed(cur, &new) {
                let g = cur["metadata"]["generation"].as_i64().unwrap_or(1);
                new["metadata"]["generation"] = json!(g + 1);
            }
            ssa::track_update(
                Some(cur),
                &mut new,
                &opts.field_manager,
                &ri.api_version(),
                "scale",
                &meta::now(),
            );
            Ok(finish(cur, new))
        })?;
    Ok(Written {
        code: 200,
        object: scale_of(ri, &res.object)?,
        warnings: Vec::new(),
    })
}

/// Outcome of a delete.
pub enum Deleted {
    /// Removed at once; the Status names it.
    Gone(Value),
    /// Still present (finalizers pending); the object with its deletionTimestamp.
    Pending(Value),
}

/// Delete one object.
pub fn delete(
    state: &State,
    ri: &ResourceInfo,
    ns: &str,
    name: &str,
    opts: &DeleteOpts,
) -> ApiResult<Deleted> {
    let store_ns = if ri.namespaced { ns } else { "" };
    let key = ri.key();
    let propagation = opts.propagation.clone().unwrap_or_else(|| {
        // Kubernetes' default for most resources is Background.
        "Background".to_string()
    });
    if !["Background", "Foreground", "Orphan"].contains(&propagation.as_str()) {
        return Err(ApiError::invalid(
            "DeleteOptions",
            "",
            "",
            vec![(
                "propagationPolicy".into(),
                format!(
                    "Unsupported value: {propagation:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
                ),
            )],
        ));
    }
    let current = state
        .store
        .get(&key, store_ns, name)
        .ok_or_else(|| not_found(ri, name))?;
    let uid = meta_str(&current, "uid").unwrap_or_default().to_string();
    let has_dependents = !state.store.dependents(&uid).is_empty();
    if propagation == "Orphan" && !opts.dry_run && has_dependents {
        controllers::orphan_dependents(state, &uid);
    }
    let now = meta::now();
    let res = state.store.write(&key, store_ns, name, opts.dry_run, |cur| {
        let cur = cur.ok_or_else(|| not_found(ri, name))?;
        if let Some(u) = &opts.precondition_uid
            && Some(u.as_str()) != meta_str(cur, "uid") {
                return Err(ApiError::new(409, "Conflict", format!("Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {u}, UID in object meta: {}", ri.qualified(), meta_str(cur, "uid").unwrap_or_default())).details(name, &ri.group, &ri.plural));
            }
        if let Some(rv) = &opts.precondition_rv
            && Some(rv.as_str()) != meta_str(cur, "resourceVersion") {
                return Err(ApiError::new(409, "Conflict", format!("Operation cannot be fulfilled on {} \"{name}\": Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}", ri.qualified(), meta_str(cur, "resourceVersion").unwrap_or_default())).details(name, &ri.group, &ri.plural));
            }
        let deleting = cur["metadata"].get("deletionTimestamp").is_some();
        let mut finalizers: Vec<Value> = cur["metadata"].get("finalizers").and_then(Value::as_array).cloned().unwrap_or_default();
        if ri.kind == "Namespace" && !ri.custom {
            if deleting {
                return Ok(WriteOp::Keep);
            }
            let mut n = (**cur).clone();
            n["metadata"]["deletionTimestamp"] = json!(now);
            n["status"]["phase"] = json!("Terminating");
            return Ok(WriteOp::Put(n));
        }
        if propagation == "Foreground" && has_dependents && !finalizers.contains(&json!("foregroundDeletion")) {
            finalizers.push(json!("foregroundDeletion"));
        }
        if finalizers.is_empty() {
            return Ok(WriteOp::Delete);
        }
        if deleting && cur["metadata"].get("finalizers") == Some(&Value::Array(finalizers.clone())) {
            return Ok(WriteOp::Keep);
        }
        let mut n = (**cur).clone();
        if !deleting {
            n["metadata"]["deletionTimestamp"] = json!(now);
            n["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            if ri.generation {
                let g = n["metadata"]["generation"].as_i64().unwrap_or(1);
                n["metadata"]["generation"] = json!(g + 1);
            }
        }
        n["metadata"]["finalizers"] = Value::Array(finalizers);
        Ok(WriteOp::Put(n))
    })?;
    if res.etype == Some(crate::store::EventType::Deleted) {
        if !opts.dry_run {
            controllers::on_deleted(state, ri, &res.object);
        }
        let mut details = Map::new();
        details.insert("name".into(), json!(name));
        if !ri.group.is_empty() {
            details.insert("group".into(), json!(ri.group));
        }
        details.insert("kind".into(), json!(ri.plural));
        details.insert("uid".into(), json!(uid));
        Ok(Deleted::Gone(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details
        })))
    } else {
        if !opts.dry_run {
            let fg = res.object["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "foregroundDeletion"));
            if fg {
                state
                    .foreground
                    .lock()
                    .expect("foreground lock poisoned")
                    .insert((key.clone(), store_ns.to_string(), name.to_string()));
            }
            controllers::kick(state);
        }
        Ok(Deleted::Pending(versioned(ri, &res.object)))
    }
}

/// Get one object.
pub fn get(state: &State, ri: &ResourceInfo, ns: &str, name: &str) -> ApiResult<Arc<Value>> {
    let store_ns = if ri.namespaced { ns } else { "" };
    state
        .store
        .get(&ri.key(), store_ns, name)
        .ok_or_else(|| not_found(ri, name))
}

/// The store, for modules that only need it.
pub fn store(state: &State) -> &Store {
    &state.store
}
