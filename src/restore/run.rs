//! One restore's work: stream the archive into the spool, choose and order the items, create
//! them, then write the log, results and resource list under `restores/<name>/`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use tokio::sync::{Mutex, watch};

use super::actions::{self, Allow, Context, OwnRoles, Stop};
use super::apply::{Applied, ExistingPolicy, Mode, api_resource, apply};
use super::budget::Budget;
use super::choose::{Chosen, choose};
use super::error::{RestoreError, sse_c_hint};
use super::fsb;
use super::hooked::{self, HookedPod};
use super::keys::restore_key;
use super::log::RestoreLog;
use super::options::{Options, restores_status};
use super::own_roles::own_roles;
use super::parse::{admit, parse};
use super::prepare::{Place, Rules, label, prepare, strip_status};
use super::spool::{Item, Limits, over_bound, spool};
use super::tally::{Outcome, Progress, Tally};
use crate::backup::sidefiles::{GzSpool, Results};
use crate::backup::{Plan, backup_key};
use crate::hooks::restore_exec::RestoreHookRun;
use crate::location::Encryption;
use crate::storage::ObjectStore;

/// How many objects a restore creates at a time: enough that the API server always has the
/// next create while it answers one, even while this process prepares items on a shared core
/// (the create ceiling `make bench-vs-velero` measures is 16 clients); far below what API
/// priority and fairness queues for one user before it answers 429 (6 queues of 50).
const IN_FLIGHT: usize = 32;

/// What a restore needs.
pub struct Request<'a> {
    /// The restore's name (its files go under `restores/<name>/`).
    pub name: &'a str,
    /// `namespace/name`, for the log.
    pub qualified: &'a str,
    pub backup: &'a str,
    pub plan: &'a Plan,
    pub rules: &'a Rules,
    pub policy: ExistingPolicy,
    pub client: &'a kube::Client,
    pub store: &'a ObjectStore,
    pub progress: watch::Sender<Progress>,
    /// What the archive may cost (sizes, counts, the spool's room).
    pub limits: Limits,
    /// What the spec asks for that is not done (`backup::not_done::restore_not_done`): each a
    /// warning in the log and the results.
    pub not_done: Vec<String>,
    /// Status, modifiers, plugin ConfigMaps, priorities, dry run.
    pub options: &'a Options,
    /// How long to wait for a namespace the items go into to finish terminating (Velero's
    /// `--terminating-resource-timeout`).
    pub terminating_timeout: std::time::Duration,
    /// Init-container and exec hooks for the restored pods.
    pub hooks: &'a RestoreHookRun,
    /// What the chart lets restores bring back that is refused by default.
    pub allow: Allow,
    /// How pod volumes backed up file by file are written back.
    pub fs: &'a super::fsb::FsRun,
}

/// Run the restore. The log and results are written even when the restore fails as a whole,
/// so `veloxide restore logs` can say why.
pub async fn run(request: Request<'_>) -> Result<Outcome, RestoreError> {
    let mut log = RestoreLog {
        spool: GzSpool::new()?,
        restore: request.qualified.to_owned(),
    };
    let mut results = Results::default();
    let mut list: BTreeMap<String, Vec<String>> = BTreeMap::new();
    log.line(
        "info",
        &format!("Starting restore of backup {}", request.backup),
    );
    let outcome = restore_items(&request, &mut log, &mut results, &mut list).await;
    match &outcome {
        Ok(o) => log.line(
            "info",
            &format!(
                "Restored {} of {} items ({} errors, {} warnings)",
                o.restored, o.total, o.errors, o.warnings
            ),
        ),
        Err(e) => {
            log.line("error", &format!("The restore failed: {e}"));
            results.errors.add_general(e.to_string());
        }
    }
    let written = write_files(&request, log, &results, list).await;
    let outcome = outcome?;
    written.map_err(RestoreError::Upload)?;
    Ok(outcome)
}

async fn restore_items(
    request: &Request<'_>,
    log: &mut RestoreLog,
    results: &mut Results,
    list: &mut BTreeMap<String, Vec<String>>,
) -> Result<Outcome, RestoreError> {
    let backup = request.backup;
    let key = backup_key(backup, &format!("{backup}.tar.gz"));
    let sse_c = matches!(request.store.config().encryption, Encryption::SseC(_));
    let read_error = |source| RestoreError::Read {
        key: key.clone(),
        hint: sse_c_hint(sse_c, &source),
        source,
    };
    let body = request.store.get(&key).await.map_err(read_error)?;
    let spooled = spool(body.into_async_read(), request.limits)
        .await
        .map_err(|e| {
            if let Some(bound) = over_bound(&e) {
                RestoreError::OverBound(bound.0.clone())
            } else if e.kind() == std::io::ErrorKind::TimedOut {
                RestoreError::Stalled(e.to_string())
            } else {
                RestoreError::Archive(e)
            }
        })?;
    log.line(
        "info",
        &format!(
            "Read {} items from the archive (format {})",
            spooled.items.len(),
            spooled.format_version.as_deref().unwrap_or("unknown")
        ),
    );
    for message in &request.not_done {
        log.line("warning", message);
        results.warnings.add_general(message.clone());
    }
    if request.options.dry_run {
        log.line(
            "info",
            "Dry run: every create and update is a server-side dry-run request; nothing in the \
             cluster is changed",
        );
    }
    let Chosen {
        items: chosen,
        stages,
        status: status_resources,
    } = choose(
        request.client,
        request.plan,
        request.options,
        &spooled,
        log,
        results,
    )
    .await;
    let target = |ns: &str| request.rules.target_namespace(ns).to_owned();
    let fs = fsb::started::prepare(
        request.store,
        backup,
        target,
        &request.fs.image,
        log,
        results,
    )
    .await;
    let reprovisioned = reprovisioned(&chosen);
    let snapshotted_volumes = snapshotted_volumes(&chosen);
    let has_bindings = chosen.iter().any(|i| {
        i.group_resource == "rolebindings.rbac.authorization.k8s.io"
            || i.group_resource == "clusterrolebindings.rbac.authorization.k8s.io"
    });
    let own_roles = if has_bindings {
        own_roles(request.client).await
    } else {
        OwnRoles::Known(BTreeSet::new())
    };
    let server_namespace = request.qualified.split_once('/').map_or("", |(ns, _)| ns);
    let plugins = super::plugins::plugin_config(request.client, server_namespace).await;
    let ctx = Context {
        rules: request.rules,
        reprovisioned: &reprovisioned,
        snapshotted_volumes: &snapshotted_volumes,
        own_roles: &own_roles,
        server_namespace: request.qualified.split_once('/').map_or("", |(ns, _)| ns),
        plugins: &plugins,
        hooks: &request.hooks.rules,
        allow: &request.allow,
        fs: &fs,
    };
    let total = chosen.len() as u64;
    let mut tally = Tally {
        log,
        results,
        list,
        outcome: Outcome {
            total,
            ..Default::default()
        },
    };
    request
        .progress
        .send_replace(Progress { total, restored: 0 });
    // Stages one after another (`stages.rs`: Velero's priorities, a kind waiting only for the
    // kinds it needs: a Namespace before what is in it, an established CRD before its
    // resources, a ServiceAccount before its pods); the objects of a stage in parallel, each
    // recorded as it finishes, so one slow create holds no other slot.
    let namespaces_ready = Mutex::new(HashMap::new());
    let budget = Budget::new();
    // Restored pods' exec hooks wait for their pods on tasks of their own: a pod that takes
    // minutes to start holds no create slot, and the restore waits for them all at its end.
    let mut execs = tokio::task::JoinSet::new();
    // A created pod's PodVolumeRestores are made and waited for on tasks of their own too.
    let mut volume_waits = tokio::task::JoinSet::new();
    let stage_of = |item: &Item| stages.get(&item.group_resource).copied();
    for stage in chosen.chunk_by(|a, b| stage_of(a) == stage_of(b)) {
        // A Vec, not an iterator adaptor: a closure here makes the run's future not provably
        // Send (rustc's higher-ranked lifetime limitation with async closures).
        let mut jobs = Vec::with_capacity(stage.len());
        for &item in stage {
            jobs.push(restore_tagged(
                request,
                &ctx,
                &budget,
                item,
                status_resources.contains(&item.group_resource),
                &namespaces_ready,
            ));
        }
        let mut done = futures::stream::iter(jobs).buffer_unordered(IN_FLIGHT);
        while let Some((item, (gvk, applied, pod, object))) = done.next().await {
            let created = matches!(applied, Applied::Created) && !request.options.dry_run;
            if let Some(fs_pod) =
                fsb::started::pending(&item.group_resource, created, object.as_ref(), &fs)
            {
                fsb::started::start(
                    fs_pod,
                    request.client,
                    &request.fs.maker,
                    tally.log,
                    &mut volume_waits,
                );
            }
            tally.record(request.rules, &request.progress, item, gvk, applied);
            if let Some(pod) = pod {
                hooked::start(pod, request.hooks, tally.log, tally.results, &mut execs);
            }
        }
    }
    if !execs.is_empty() {
        tally.log.line(
            "info",
            &format!(
                "Waiting for the exec hooks of {} restored pods",
                execs.len()
            ),
        );
    }
    fsb::started::finish(&mut volume_waits, tally.log, tally.results).await;
    while let Some(done) = execs.join_next().await {
        match done {
            Ok(records) => {
                hooked::record(&records, tally.log, tally.results, &mut tally.outcome.hooks)
            }
            Err(e) => {
                let message = format!("a restored pod's exec hooks did not finish: {e}");
                tally.log.line("error", &message);
                tally.results.errors.add_general(message);
            }
        }
    }
    let mut outcome = tally.outcome;
    outcome.errors = results.errors.count();
    outcome.warnings = results.warnings.count();
    Ok(outcome)
}

/// [`restore_one`], with the item it was for.
async fn restore_tagged<'i>(
    request: &Request<'_>,
    ctx: &Context<'_>,
    budget: &Budget,
    item: &'i Item,
    status_by_spec: bool,
    namespaces_ready: &Mutex<Namespaces>,
) -> (&'i Item, Restored1) {
    (
        item,
        restore_one(request, ctx, budget, item, status_by_spec, namespaces_ready).await,
    )
}

/// The names of the chosen PersistentVolumes that are not restored but provisioned anew
/// (`actions::reprovisioned`); an item that does not read is left to fail on its own turn.
fn reprovisioned(chosen: &[&Item]) -> BTreeSet<String> {
    chosen
        .iter()
        .filter(|i| i.group_resource == "persistentvolumes")
        .filter(|i| {
            i.read()
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .is_some_and(|pv| actions::reprovisioned(&pv))
        })
        .map(|i| i.name.clone())
        .collect()
}

/// The volumes of the chosen claims that come back from a CSI snapshot (`actions::csi`).
fn snapshotted_volumes(chosen: &[&Item]) -> BTreeSet<String> {
    let claims: Vec<Value> = chosen
        .iter()
        .filter(|i| i.group_resource == "persistentvolumeclaims")
        .filter_map(|i| serde_json::from_slice(&i.read().ok()?).ok())
        .collect();
    actions::csi::snapshotted_volumes(claims.iter())
}

/// One item's resource-list key, what happened, a created pod's exec hooks, and the object.
type Restored1 = (String, Applied, Option<HookedPod>, Option<Value>);

/// Restore one item; returns its resource-list key, what happened, a created pod's exec
/// hooks, and the object as it was sent.
async fn restore_one(
    request: &Request<'_>,
    ctx: &Context<'_>,
    budget: &Budget,
    item: &Item,
    status_by_spec: bool,
    namespaces_ready: &Mutex<Namespaces>,
) -> Restored1 {
    let (gvk, applied, object) =
        create_one(request, ctx, budget, item, status_by_spec, namespaces_ready).await;
    let pod = hooked::pending(
        &item.group_resource,
        &applied,
        object.as_ref(),
        &request.hooks.rules,
    );
    // Only a pod is read again (for its volumes); other objects are dropped here.
    let object = object.filter(|_| item.group_resource == "pods");
    (gvk, applied, pod, object)
}

/// Restore one item; returns its resource-list key, what happened, and the object created.
async fn create_one(
    request: &Request<'_>,
    ctx: &Context<'_>,
    budget: &Budget,
    item: &Item,
    status_by_spec: bool,
    namespaces_ready: &Mutex<Namespaces>,
) -> (String, Applied, Option<Value>) {
    let fallback_key = item.group_resource.clone();
    let text = match item.read() {
        Ok(t) => t,
        Err(e) => return (fallback_key, Applied::Failed(e.to_string()), None),
    };
    // Held until the item is created: what its parse may cost, out of the restore's budget.
    let reserved = match admit(&text) {
        Ok(estimate) => budget.reserve(text.len() as u64, estimate).await,
        Err(e) => Err(e),
    };
    let _reserved = match reserved {
        Ok(r) => r,
        Err(e) => return (fallback_key, Applied::Failed(e), None),
    };
    let mut object = match parse(&text) {
        Ok(o) => o,
        Err(e) => return (fallback_key, Applied::Failed(e), None),
    };
    drop(text);
    let gvk = format!(
        "{}/{}",
        object["apiVersion"].as_str().unwrap_or_default(),
        object["kind"].as_str().unwrap_or_default()
    );
    let labels = object
        .pointer("/metadata/labels")
        .and_then(|l| serde_json::from_value::<BTreeMap<String, String>>(l.clone()).ok())
        .unwrap_or_default();
    if !request.plan.wants_labels(&labels) {
        return (gvk, Applied::Unchanged, None);
    }
    let place = Place {
        namespace: item.namespace.as_deref(),
        name: &item.name,
    };
    if let Err(e) = prepare(&mut object, request.rules, place) {
        return (gvk, Applied::Failed(e), None);
    }
    match actions::run(&item.group_resource, &mut object, ctx) {
        Ok(()) => {}
        Err(Stop::Skip { reason, warn }) => return (gvk, Applied::Skipped { reason, warn }, None),
        Err(Stop::Refuse(reason)) => return (gvk, Applied::Failed(reason), None),
    }
    // Velero takes the status before its modifiers run, which never see it.
    let status = object
        .get("status")
        .filter(|_| restores_status(status_by_spec, &object))
        .cloned();
    strip_status(&mut object);
    if let Some(modifiers) = &request.options.modifiers {
        let errors = modifiers.apply(&mut object, &item.group_resource, item.namespace.as_deref());
        if !errors.is_empty() {
            return (gvk, Applied::Failed(errors.join("; ")), None);
        }
        // What the filters chose stays where they chose it, with the restore's labels.
        label(&mut object, request.rules, place);
    }
    // A claim provisioned from a snapshot whose storage snapshot is gone would wait for ever:
    // it fails here, naming the snapshot.
    if let Some(snapshot) = actions::csi::source_snapshot(&object)
        && let Err(e) = Box::pin(super::snapshot_source::check(
            request.client,
            &object,
            snapshot,
        ))
        .await
    {
        return (gvk, Applied::Failed(e), None);
    }
    let resource = match api_resource(&object, &item.group_resource) {
        Ok(r) => r,
        Err(e) => return (gvk, Applied::Failed(e), None),
    };
    let dry_run = request.options.dry_run;
    // A Namespace of the archive whose namespace is being deleted here waits for it too, so
    // it is created anew with its labels rather than found existing and then gone.
    if object["kind"] == "Namespace" && object["apiVersion"] == "v1" {
        let mut ready = namespaces_ready.lock().await;
        match settled_namespace(request, &item.name).await {
            Ok(Some(existing)) if terminating(&existing) => {
                let why = still_terminating(request, &item.name);
                ready.insert(item.name.clone(), Some(why.clone()));
                return (gvk, Applied::Failed(why), None);
            }
            Ok(_) => {}
            Err(e) => {
                let why = format!("cannot read namespace {}: {e}", item.name);
                return (gvk, Applied::Failed(why), None);
            }
        }
    }
    if let Some(ns) = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        // Held while the namespace is made, so the objects bound for it wait for it.
        let mut ready = namespaces_ready.lock().await;
        match ready.get(ns) {
            Some(None) => {}
            // Waited for once already: the namespace's other objects do not wait again.
            Some(Some(gave_up)) => return (gvk, Applied::Failed(gave_up.clone()), None),
            None => match ensure_namespace(request, ns, dry_run).await {
                Ok(true) => {
                    ready.insert(ns.to_owned(), None);
                }
                Ok(false) => {
                    return (
                        gvk,
                        Applied::Skipped {
                            reason: format!(
                                "would be created in namespace {ns}, which the restore would \
                                 create first; the API server cannot dry-run an object into a \
                                 namespace that does not exist yet, so RBAC and admission were \
                                 not asked about it"
                            ),
                            warn: true,
                        },
                        None,
                    );
                }
                Err((e, gave_up)) => {
                    if gave_up {
                        ready.insert(ns.to_owned(), Some(e.clone()));
                    }
                    return (gvk, Applied::Failed(e), None);
                }
            },
        }
    }
    let mode = Mode {
        dry_run,
        status: status.as_ref(),
    };
    let mut applied = apply(request.client, &resource, &object, request.policy, mode).await;
    // Its custom resources come in a later stage: the stage ends when it is served.
    if item.group_resource == CRDS
        && matches!(applied, Applied::Created | Applied::Updated)
        && let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str)
        && let Err(e) = super::established::wait(request.client, name, RESOURCE_TIMEOUT).await
    {
        applied = Applied::Failed(e);
    }
    (gvk, applied, Some(object))
}

const CRDS: &str = "customresourcedefinitions.apiextensions.k8s.io";

/// Velero's `--resource-timeout` default, which bounds its wait for a restored CRD.
const RESOURCE_TIMEOUT: std::time::Duration = crate::hooks::restore_exec::DEFAULT_WAIT;

/// The namespaces a restore has made sure of: `None` ready, `Some(why)` still terminating
/// after the wait (its other objects fail with the same reason instead of waiting again).
type Namespaces = HashMap<String, Option<String>>;

/// Make sure `ns` exists: the backup may not hold the Namespace object (a resource filter
/// left it out), and a mapped namespace is new; Velero creates it too. An error says why not, and whether it was the terminating wait
/// running out (`true`: not worth trying again in this restore). In a dry run nothing is
/// created: `Ok(false)` when the namespace does not exist.
async fn ensure_namespace(
    request: &Request<'_>,
    ns: &str,
    dry_run: bool,
) -> Result<bool, (String, bool)> {
    let api: Api<Namespace> = Api::all(request.client.clone());
    match settled_namespace(request, ns).await {
        Ok(Some(existing)) if terminating(&existing) => Err((still_terminating(request, ns), true)),
        Ok(Some(_)) => Ok(true),
        Ok(None) if dry_run => Ok(false),
        Ok(None) => {
            let namespace: Namespace = serde_json::from_value(json!({
                "metadata": {"name": ns, "labels": {
                    super::prepare::BACKUP_NAME_LABEL: request.rules.backup,
                    super::prepare::RESTORE_NAME_LABEL: request.rules.restore,
                }}
            }))
            .expect("a namespace decodes");
            match api.create(&PostParams::default(), &namespace).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(true),
                Err(e) => Err((format!("cannot create namespace {ns}: {e}"), false)),
            }
        }
        Err(e) => Err((format!("cannot read namespace {ns}: {e}"), false)),
    }
}

/// The namespace `ns` once it is not terminating: a namespace being deleted (the one a restore
/// replaces, typically) is waited for, once a second up to `--terminating-resource-timeout`,
/// as Velero does (`EnsureNamespaceExistsAndIsReady`), so it can be created anew.
async fn settled_namespace(
    request: &Request<'_>,
    ns: &str,
) -> Result<Option<Namespace>, kube::Error> {
    let api: Api<Namespace> = Api::all(request.client.clone());
    let deadline = tokio::time::Instant::now() + request.terminating_timeout;
    loop {
        let existing = api.get_opt(ns).await?;
        if !existing.as_ref().is_some_and(terminating) || tokio::time::Instant::now() >= deadline {
            return Ok(existing);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

fn terminating(namespace: &Namespace) -> bool {
    namespace.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating")
}

fn still_terminating(request: &Request<'_>, ns: &str) -> String {
    format!(
        "namespace {ns} is still being deleted after {:?} (the server's \
         --terminating-resource-timeout); restore after it is gone, or raise the timeout",
        request.terminating_timeout
    )
}

/// The log, results and resource list, under `restores/<name>/` with the location's
/// encryption (each HEAD-checked by the store layer).
async fn write_files(
    request: &Request<'_>,
    log: RestoreLog,
    results: &Results,
    mut list: BTreeMap<String, Vec<String>>,
) -> Result<(), crate::storage::StorageError> {
    let name = request.name;
    let io = |e: std::io::Error| crate::storage::StorageError::Body(e.to_string());
    // Items are recorded as they finish: each kind's list is sorted, so it reads the same
    // from one restore to the next.
    list.values_mut().for_each(|entries| entries.sort());
    let list_bytes = crate::backup::sidefiles::gzip(
        &serde_json::to_vec(&list).expect("a map of strings serializes"),
    )
    .map_err(io)?;
    let results_bytes = results.to_gzip().map_err(io)?;
    let file = log.spool.finish().map_err(io)?;
    let (list_key, results_key, log_key) = (
        restore_key(name, &format!("restore-{name}-resource-list.json.gz")),
        restore_key(name, &format!("restore-{name}-results.gz")),
        restore_key(name, &format!("restore-{name}-logs.gz")),
    );
    // Together: each is a PUT and a HEAD, and the restore is not done until all are.
    tokio::try_join!(
        request.store.put(&list_key, Bytes::from(list_bytes)),
        request.store.put(&results_key, Bytes::from(results_bytes)),
        request
            .store
            .upload(&log_key, tokio::fs::File::from_std(file)),
    )?;
    Ok(())
}
