//! Object lifecycle around the store: the namespace lifecycle admission check, per-kind rules
//! before storing, finalizer-driven removal, CRD registration, and namespace cleanup.

use std::sync::Arc;

use serde_json::{Value, json};

use super::objects::{self, ready_to_go};
use super::server::Target;
use super::status::ApiError;
use super::store::Store;
use super::{App, crd};

fn name_of(o: &Value) -> String {
    o["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn ns(t: &Target) -> &str {
    t.namespace.as_deref().unwrap_or_default()
}

/// Stands in for the namespace lifecycle admission plugin.
pub fn check_namespace(store: &Store, t: &Target) -> Result<(), ApiError> {
    if !t.info.namespaced {
        return Ok(());
    }
    let Some(n) = store.get("/namespaces", "", ns(t)) else {
        return Err(ApiError::new(
            404,
            "NotFound",
            format!("namespaces \"{}\" not found", ns(t)),
        ));
    };
    if !n["metadata"]["deletionTimestamp"].is_null() {
        return Err(ApiError::forbidden(format!(
            "{} \"{}\" is forbidden: unable to create new content in namespace {} because it is being terminated",
            t.info.qualified_plural(),
            t.name.as_deref().unwrap_or_default(),
            ns(t)
        )));
    }
    Ok(())
}

/// Per-kind rules applied before storing (CRD checks and status).
pub fn before_store(t: &Target, obj: &mut Value, now: &str) -> Result<(), ApiError> {
    if t.info.key() == "apiextensions.k8s.io/customresourcedefinitions" {
        let errs = crd::validate(obj);
        if !errs.is_empty() {
            return Err(ApiError::invalid(&t.info, &name_of(obj), &errs));
        }
        obj["status"] = crd::established_status(obj, now);
    }
    Ok(())
}

/// Stores or (when the last finalizer went) removes an object, with the CRD and namespace hooks.
pub fn store_object(store: &mut Store, t: &Target, obj: Value) -> Value {
    let key = t.info.key();
    let (namespace, name) = super::store::ident(&obj);
    // A namespace goes only once it is empty (settle_namespace), never directly.
    if ready_to_go(&obj) && key != "/namespaces" {
        let gone = store.remove(&key, &namespace, &name).unwrap_or(obj);
        if key == "apiextensions.k8s.io/customresourcedefinitions" {
            let info = crd::resource_info(&gone);
            store.registry.remove_custom(&info.key());
            store.drop_type(&info.key());
        }
        gone
    } else {
        let stored = store.put(&key, obj);
        if key == "apiextensions.k8s.io/customresourcedefinitions" {
            store.registry.upsert(crd::resource_info(&stored));
        }
        stored
    }
}

/// The namespace controller: a terminating namespace is emptied a moment after its deletion
/// (as on a real cluster, where its contents can still be read and deleted meanwhile), then
/// removed once nothing (and no finalizer) holds it.
pub fn spawn_namespace_cleanup(app: &Arc<App>, ns: String) {
    let app = app.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let mut store = app.store();
            settle_namespace(&mut store, &ns);
            if store
                .get("/namespaces", "", &ns)
                .is_none_or(|n| n["metadata"]["deletionTimestamp"].is_null())
            {
                return;
            }
        }
    });
}

/// Finishes deleting a terminating namespace: its objects go (or start going, if they have
/// finalizers), and once it is empty the namespace goes.
fn settle_namespace(store: &mut Store, ns: &str) {
    let Some(n) = store.get("/namespaces", "", ns).cloned() else {
        return;
    };
    if n["metadata"]["deletionTimestamp"].is_null() {
        return;
    }
    let now = objects::now();
    for (key, name) in store.in_namespace(ns) {
        let Some(o) = store.get(&key, ns, &name).cloned() else {
            continue;
        };
        if o["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
        {
            if o["metadata"]["deletionTimestamp"].is_null() {
                let mut o = o;
                o["metadata"]["deletionTimestamp"] = json!(now);
                o["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                store.put(&key, o);
            }
        } else {
            store.remove(&key, ns, &name);
        }
    }
    let held = n["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if store.in_namespace(ns).is_empty() && !held {
        store.remove("/namespaces", "", ns);
    }
}
