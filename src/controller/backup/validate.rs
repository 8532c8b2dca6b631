//! Whether a backup can run, as Velero checks before it runs anything: its spec, and a location
//! that exists, is writable and is Available (or not yet checked: then it waits).

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

use crate::api::{Backup, BackupStorageLocation, LocationPhase};
use crate::backup::Plan;
use crate::backup::volumes::policy::{self, Policies};
use crate::controller::{Context, Error};
use crate::hooks::BackupRules;

/// What validation found.
pub(super) enum Checked {
    /// The spec's problems, every one: the backup ends `FailedValidation`.
    Invalid(Vec<String>),
    /// Not yet: the reason and message recorded while it waits.
    Wait(&'static str, String),
    Ready(Box<Ready>),
}

/// What a valid backup runs with.
pub(super) struct Ready {
    pub location: BackupStorageLocation,
    pub plan: Plan,
    pub hooks: BackupRules,
    pub ttl: Duration,
    /// `spec.resourcePolicy`'s volume policies.
    pub policies: Option<Policies>,
    /// `spec.csiSnapshotTimeout` (Velero's default 10m), and as written.
    pub csi_timeout: (Duration, String),
}

/// Why a backup with hooks is refused by a server that runs none.
pub const HOOKS_DISABLED: &str = "spec.hooks: this server runs without hooks, so it has no right \
    to exec into pods; enable them with the chart's hooks.enabled=true (and hooks.namespaces, \
    or hooks.clusterWide=true) or the server flag --hooks-enabled, or remove spec.hooks";
/// Velero's default `csiSnapshotTimeout`.
const CSI_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(600);

pub(super) async fn validate(
    ctx: &Context,
    backup: &Backup,
    location_name: &str,
) -> Result<Checked, Error> {
    let mut errors = Vec::new();
    let plan = Plan::from_spec(&backup.spec)
        .map_err(|e| errors.extend(e))
        .ok();
    let hooks = BackupRules::from_spec(backup.spec.hooks.as_ref())
        .map_err(|e| errors.extend(e))
        .unwrap_or_default();
    if !ctx.settings.hooks_enabled && !hooks.is_empty() {
        errors.push(HOOKS_DISABLED.to_owned());
    }
    let ttl = match backup.spec.ttl.as_ref().map(|t| t.parse()) {
        None => ctx.settings.backup.default_ttl,
        Some(Ok(d)) if d.is_zero() => ctx.settings.backup.default_ttl,
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            errors.push(format!("spec.ttl: {e}"));
            Duration::ZERO
        }
    };
    let csi_timeout = match backup
        .spec
        .csi_snapshot_timeout
        .as_ref()
        .map(|t| (t.parse(), t))
    {
        Some((Ok(d), text)) if !d.is_zero() => (d, text.to_string()),
        Some((Err(e), _)) => {
            errors.push(format!("spec.csiSnapshotTimeout: {e}"));
            (Duration::ZERO, String::new())
        }
        _ => (CSI_SNAPSHOT_TIMEOUT, "10m0s".to_owned()),
    };
    let policies = match resource_policies(ctx, backup).await? {
        Ok(p) => p,
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let locations: Api<BackupStorageLocation> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let location = locations.get_opt(location_name).await?;
    let mut wait = None;
    match &location {
        None => errors.push(format!(
            "backup storage location {location_name:?} does not exist; create it or name an \
             existing one in spec.storageLocation"
        )),
        Some(l) if !l.spec.is_read_write() => errors.push(format!(
            "backup can't be created because backup storage location {location_name} is \
             currently in read-only mode"
        )),
        Some(l) => match l.status.as_ref().and_then(|s| s.phase) {
            Some(LocationPhase::Available) => {}
            Some(LocationPhase::Unavailable) => errors.push(format!(
                "backup can't be created because BackupStorageLocation {location_name} is in \
                 Unavailable status: {}",
                l.status
                    .as_ref()
                    .and_then(|s| s.message.as_deref())
                    .unwrap_or("")
            )),
            // Velero fails such backups; a location created together with its first backup
            // simply has not been checked yet, so wait for the check instead.
            None => {
                wait = Some((
                    "WaitingForLocation",
                    format!(
                        "backup storage location {location_name} has not been validated yet; \
                         the backup starts once it is Available"
                    ),
                ))
            }
        },
    }
    Ok(match (location, plan, wait) {
        _ if !errors.is_empty() => Checked::Invalid(errors),
        (_, _, Some((reason, message))) => Checked::Wait(reason, message),
        (Some(location), Some(plan), None) => Checked::Ready(Box::new(Ready {
            location,
            plan,
            hooks,
            ttl,
            policies,
            csi_timeout,
        })),
        // Without errors there is a location and a plan.
        _ => Checked::Invalid(errors),
    })
}

/// The volume policies of `spec.resourcePolicy` (a ConfigMap in the Backup's namespace, as
/// Velero reads it), or the message that makes the backup FailedValidation.
async fn resource_policies(
    ctx: &Context,
    backup: &Backup,
) -> Result<Result<Option<Policies>, String>, Error> {
    let Some(reference) = &backup.spec.resource_policy else {
        return Ok(Ok(None));
    };
    if !reference.kind.eq_ignore_ascii_case("configmap") {
        return Ok(Err(format!(
            "spec.resourcePolicy.kind is {:?}; Velero and veloxide read resource policies from a ConfigMap (kind: configmap)",
            reference.kind
        )));
    }
    let namespace = backup.metadata.namespace.clone().unwrap_or_default();
    let qualified = format!("{namespace}/{}", reference.name);
    let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &namespace);
    let map = match maps.get_opt(&reference.name).await {
        Ok(Some(map)) => map,
        Ok(None) => {
            return Ok(Err(format!(
                "spec.resourcePolicy: ConfigMap {qualified} does not exist; create it or remove the reference"
            )));
        }
        Err(kube::Error::Api(e)) if e.code == 403 => {
            return Ok(Err(format!(
                "spec.resourcePolicy: the server may not read ConfigMap {qualified} ({}); grant it get on configmaps in {namespace}",
                e.message
            )));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(policy::from_config_map(&qualified, &map.data.unwrap_or_default()).map(Some))
}
