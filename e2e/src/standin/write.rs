//! Writes: create, update, patch (incl. server-side apply), delete, deletecollection. Each one
//! shapes the object, asks validating webhooks (with the store unlocked), then commits only if
//! the stored copy is still the one it started from.

use std::sync::Arc;

use axum::response::Response;
use serde_json::{Value, json};

use super::admission::{self, Review};
use super::crud::{at_version, matching, respond};
use super::lifecycle::{before_store, check_namespace, spawn_namespace_cleanup, store_object};
use super::objects::{self, FieldValidation, carry_over, shape, stamp_create};
use super::patch::{PatchKind, apply_patch};
use super::server::{Req, Target};
use super::status::ApiError;
use super::store::Store;
use super::{App, managed};

/// How often a patch is retried when the object changes under it (the real server retries too).
const PATCH_RETRIES: usize = 5;

fn decode(req: &Req) -> Result<Value, ApiError> {
    let ct = req.header("content-type");
    let unsupported = |why: String| {
        let accepted = "application/json, application/yaml, application/vnd.kubernetes.protobuf";
        let msg = format!(
            "the body of the request was in an unknown format - accepted media types include: {accepted} ({why})"
        );
        ApiError::new(415, "UnsupportedMediaType", msg)
    };
    if ct.contains("protobuf") {
        return super::protobuf::decode(&req.body).map_err(unsupported);
    }
    if ct.contains("cbor") {
        return Err(unsupported(format!("got {ct:?}")));
    }
    let yaml = ct.contains("yaml");
    let v: Result<Value, String> = if yaml {
        serde_norway::from_slice(&req.body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(&req.body).map_err(|e| e.to_string())
    };
    v.map_err(|e| ApiError::bad_request(format!("error decoding request body: {e}")))
}

fn manager(req: &Req) -> String {
    match req.q("fieldManager") {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => req
            .header("user-agent")
            .split('/')
            .next()
            .unwrap_or("unknown")
            .to_string(),
    }
}

fn name_of(o: &Value) -> String {
    o["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn rv_of(o: &Value) -> Option<String> {
    o["metadata"]["resourceVersion"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn ns(t: &Target) -> &str {
    t.namespace.as_deref().unwrap_or_default()
}

pub async fn create(app: &Arc<App>, req: &Req, t: &Target) -> Result<Response, ApiError> {
    let mut obj = decode(req)?;
    let fv = FieldValidation::parse(req.q("fieldValidation"));
    if obj["metadata"]["name"].as_str().is_none_or(str::is_empty)
        && let Some(prefix) = obj["metadata"]["generateName"].as_str()
    {
        let suffix: String = super::tls::random_hex(3).chars().take(5).collect();
        obj["metadata"]["name"] = json!(format!("{prefix}{suffix}"));
    }
    let warnings = shape(
        &t.info,
        &t.version,
        t.namespace.as_deref(),
        None,
        &mut obj,
        fv,
    )?;
    let name = name_of(&obj);
    if name.is_empty() {
        let e = super::status::FieldError::required("metadata.name");
        return Err(ApiError::invalid(&t.info, "", &[e]));
    }
    finish_create(app, req, t, obj, warnings).await
}

async fn finish_create(
    app: &Arc<App>,
    req: &Req,
    t: &Target,
    mut obj: Value,
    mut warnings: Vec<String>,
) -> Result<Response, ApiError> {
    let name = name_of(&obj);
    let now = objects::now();
    stamp_create(&t.info, &t.version, &mut obj, &now);
    if obj["metadata"]["managedFields"].is_null() {
        managed::record_update(None, &mut obj, &manager(req), &now);
    }
    before_store(t, &mut obj, &now)?;
    let exists = |store: &Store| store.get(&t.info.key(), ns(t), &name).is_some();
    {
        let store = app.store();
        check_namespace(&store, t)?;
        if exists(&store) {
            return Err(ApiError::already_exists(&t.info, &name));
        }
    }
    let review = Review::new("CREATE", t, &name, Some(&obj), None, req);
    warnings.extend(admission::validate(app, review).await?);
    if req.dry_run() {
        return Ok(respond(201, &obj, &warnings));
    }
    let stored = {
        let mut store = app.store();
        check_namespace(&store, t)?;
        if exists(&store) {
            return Err(ApiError::already_exists(&t.info, &name));
        }
        obj["apiVersion"] = json!(t.info.api_version(t.info.storage_version()));
        store_object(&mut store, t, obj)
    };
    Ok(respond(
        201,
        &at_version(&t.info, &t.version, &stored),
        &warnings,
    ))
}

pub async fn update(app: &Arc<App>, req: &Req, t: &Target) -> Result<Response, ApiError> {
    let mut obj = decode(req)?;
    let fv = FieldValidation::parse(req.q("fieldValidation"));
    let warnings = shape(
        &t.info,
        &t.version,
        t.namespace.as_deref(),
        t.name.as_deref(),
        &mut obj,
        fv,
    )?;
    let name = name_of(&obj);
    let old = current(app, t)?;
    match rv_of(&obj) {
        None if !t.info.builtin => {
            let e = super::status::FieldError::invalid(
                "metadata.resourceVersion",
                &json!(0),
                "must be specified for an update",
            );
            return Err(ApiError::invalid(&t.info, &name, &[e]));
        }
        Some(rv) if Some(&rv) != rv_of(&old).as_ref() => {
            return Err(ApiError::conflict(&t.info, &name));
        }
        _ => {}
    }
    // Without a resourceVersion the update is unconditional: it applies to whatever is stored.
    finish_update(app, req, t, old, obj, warnings, true).await
}

fn current(app: &App, t: &Target) -> Result<Value, ApiError> {
    let name = t.name.as_deref().unwrap_or_default();
    app.store()
        .get(&t.info.key(), ns(t), name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.info, name))
}

/// Shared tail of update and patch; `Err(None)`-style retry is signalled by `Ok(None)`.
async fn finish_update(
    app: &Arc<App>,
    req: &Req,
    t: &Target,
    old: Value,
    mut obj: Value,
    mut warnings: Vec<String>,
    conflict_is_error: bool,
) -> Result<Response, ApiError> {
    let name = name_of(&old);
    let now = objects::now();
    carry_over(
        &t.info,
        &t.version,
        &old,
        &mut obj,
        t.sub.as_deref() == Some("status"),
    );
    if req
        .header("content-type")
        .starts_with("application/apply-patch")
    {
        // server-side apply already wrote managedFields
    } else {
        managed::record_update(Some(&old), &mut obj, &manager(req), &now);
    }
    if t.sub.is_none() {
        before_store(t, &mut obj, &now)?;
    }
    let review = Review::new("UPDATE", t, &name, Some(&obj), Some(&old), req);
    warnings.extend(admission::validate(app, review).await?);
    if req.dry_run() {
        return Ok(respond(200, &obj, &warnings));
    }
    let stored = {
        let mut store = app.store();
        let now_stored = store.get(&t.info.key(), ns(t), &name).cloned();
        match now_stored {
            None => return Err(ApiError::not_found(&t.info, &name)),
            Some(s) if rv_of(&s) != rv_of(&old) => {
                return Err(if conflict_is_error {
                    ApiError::conflict(&t.info, &name)
                } else {
                    retry_marker()
                });
            }
            _ => {}
        }
        obj["apiVersion"] = json!(t.info.api_version(t.info.storage_version()));
        store_object(&mut store, t, obj)
    };
    Ok(respond(
        200,
        &at_version(&t.info, &t.version, &stored),
        &warnings,
    ))
}

fn retry_marker() -> ApiError {
    ApiError::new(409, "Conflict", "retry")
}

pub async fn patch(app: &Arc<App>, req: &Req, t: &Target) -> Result<Response, ApiError> {
    let kind = PatchKind::from_content_type(req.header("content-type"))?;
    if kind == PatchKind::Strategic && !t.info.builtin {
        return Err(ApiError::unsupported_media_type(
            "application/strategic-merge-patch+json",
        ));
    }
    let fv = FieldValidation::parse(req.q("fieldValidation"));
    for _ in 0..PATCH_RETRIES {
        let name = t.name.as_deref().unwrap_or_default();
        let old = app.store().get(&t.info.key(), ns(t), name).cloned();
        let new = if kind == PatchKind::Apply {
            let applied = decode(req)?;
            let mgr = req.q("fieldManager").filter(|m| !m.is_empty()).ok_or_else(|| {
                let e = super::status::FieldError::required("fieldManager");
                ApiError::new(422, "Invalid", format!("PatchOptions.meta.k8s.io \"\" is invalid: {e}: is required for apply patch"))
            })?;
            let new = managed::apply(
                old.as_ref(),
                &applied,
                mgr,
                req.flag("force"),
                &objects::now(),
            )?;
            if old.is_none() {
                let mut obj = new;
                let warnings = shape(
                    &t.info,
                    &t.version,
                    t.namespace.as_deref(),
                    t.name.as_deref(),
                    &mut obj,
                    fv,
                )?;
                return finish_create(app, req, t, obj, warnings).await;
            }
            new
        } else {
            let Some(old) = &old else {
                return Err(ApiError::not_found(&t.info, name));
            };
            apply_patch(kind, &at_version(&t.info, &t.version, old), &req.body)?
        };
        let old = old.expect("handled above");
        if rv_of(&new).is_some_and(|rv| Some(rv) != rv_of(&old)) {
            return Err(ApiError::conflict(&t.info, name));
        }
        let mut obj = new;
        let warnings = shape(
            &t.info,
            &t.version,
            t.namespace.as_deref(),
            t.name.as_deref(),
            &mut obj,
            fv,
        )?;
        match finish_update(app, req, t, old, obj, warnings, false).await {
            Err(e) if e.message == "retry" => continue,
            other => return other,
        }
    }
    Err(ApiError::conflict(
        &t.info,
        t.name.as_deref().unwrap_or_default(),
    ))
}

pub async fn delete(app: &Arc<App>, req: &Req, t: &Target) -> Result<Response, ApiError> {
    let old = current(app, t)?;
    let name = name_of(&old);
    let opts: Value = if req.body.is_empty() {
        json!({})
    } else {
        decode(req).unwrap_or_else(|_| json!({}))
    };
    let pre = &opts["preconditions"];
    if (pre["uid"].is_string() && pre["uid"] != old["metadata"]["uid"])
        || (pre["resourceVersion"].is_string()
            && pre["resourceVersion"] != old["metadata"]["resourceVersion"])
    {
        return Err(ApiError::conflict(&t.info, &name));
    }
    let review = Review::new("DELETE", t, &name, None, Some(&old), req);
    let warnings = admission::validate(app, review).await?;
    let out = delete_one(app, t, &old, req.dry_run())?;
    Ok(respond(
        200,
        &at_version(&t.info, &t.version, &out),
        &warnings,
    ))
}

/// Deletes an object, or marks it for deletion when finalizers (or namespace contents) hold it.
fn delete_one(app: &Arc<App>, t: &Target, old: &Value, dry_run: bool) -> Result<Value, ApiError> {
    let mut marked = old.clone();
    let is_ns = t.info.key() == "/namespaces";
    if marked["metadata"]["deletionTimestamp"].is_null() {
        marked["metadata"]["deletionTimestamp"] = json!(objects::now());
        marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    }
    if is_ns {
        marked["status"]["phase"] = json!("Terminating");
    }
    if dry_run {
        return Ok(marked);
    }
    let mut store = app.store();
    let (n, name) = super::store::ident(old);
    if store.get(&t.info.key(), &n, &name).is_none() {
        return Err(ApiError::not_found(&t.info, &name));
    }
    let held = marked["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if is_ns {
        spawn_namespace_cleanup(app, name.clone());
    }
    if held || is_ns {
        if old["metadata"]["deletionTimestamp"].is_null() || is_ns {
            let stored = store_object(&mut store, t, marked);
            return Ok(store
                .get(&t.info.key(), &n, &name)
                .cloned()
                .unwrap_or(stored));
        }
        return Ok(old.clone());
    }
    Ok(store_object(&mut store, t, marked))
}

pub async fn delete_collection(
    app: &Arc<App>,
    req: &Req,
    t: &Target,
) -> Result<Response, ApiError> {
    let (_, items) = matching(app, req, t)?;
    for old in &items {
        let name = name_of(old);
        let review = Review::new("DELETE", t, &name, None, Some(old), req);
        admission::validate(app, review).await?;
        let _ = delete_one(app, t, old, req.dry_run());
    }
    let rv = app.store().current_rv();
    Ok(respond(
        200,
        &json!({"apiVersion": t.info.api_version(&t.version), "kind": format!("{}List", t.info.kind),
                "metadata": {"resourceVersion": rv.to_string()},
                "items": items.iter().map(|o| at_version(&t.info, &t.version, o)).collect::<Vec<_>>()}),
        &[],
    ))
}
