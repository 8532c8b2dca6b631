//! Whether a restore can run: its spec against what veloxide can honour, and the backup and
//! location it needs.

use kube::api::ListParams;
use kube::{Api, ResourceExt};

use super::state::Validated;
use crate::api::{Backup, BackupPhase, BackupSpec, BackupStorageLocation, RestoreSpec, Schedule};
use crate::backup::Plan;
use crate::controller::{Context, Error};
use crate::hooks::restore::RestoreRules;
use crate::restore::ExistingPolicy;
use crate::restore::prepare::Rules;
use crate::schedule::made_by;

/// Why a restore with exec hooks is refused by a server that runs none (init-container hooks
/// need no right and are applied).
pub const HOOKS_DISABLED: &str = "spec.hooks: this server runs without hooks, so it has no \
    right to exec into the restored pods; enable them with the chart's hooks.enabled=true (and \
    hooks.namespaces naming the restored namespaces, or hooks.clusterWide=true) or the server \
    flag --hooks-enabled, or remove the exec hooks";

/// Check the spec against what veloxide can honour and find the backup and its location.
/// The outer error is the API failing; the inner one is the spec's problems, every one.
pub(super) async fn validate(
    ctx: &Context,
    spec: &RestoreSpec,
) -> Result<Result<Validated, Vec<String>>, Error> {
    let mut errors = Vec::new();
    let (policy, plan) = check_spec(spec, &mut errors);
    let options = super::options::options(ctx, spec, &mut errors).await?;
    let hooks = RestoreRules::from_spec(spec.hooks.as_ref())
        .map_err(|e| errors.extend(e))
        .unwrap_or_default();
    if !ctx.settings.hooks_enabled && hooks.has_exec() {
        errors.push(HOOKS_DISABLED.to_owned());
    }
    let schedule = spec.schedule_name.as_deref().unwrap_or("");
    let backup = source_backup(ctx, spec, schedule).await?;
    let location = match &backup {
        None if !spec.backup_name.is_empty() => {
            errors.push(format!(
                "backup {:?} does not exist in namespace {}",
                spec.backup_name, ctx.settings.namespace
            ));
            None
        }
        None if !schedule.is_empty() => {
            errors.push(format!(
                "spec.scheduleName: no Completed backup made by schedule {schedule:?} in this \
                 cluster (backups another cluster's schedule of that name made, found by the \
                 sync, are not its); name the backup with spec.backupName"
            ));
            None
        }
        None => None,
        Some(b) => backup_location(ctx, b, &mut errors).await?,
    };
    Ok(match (backup, location, plan, policy) {
        (Some(backup), Some(location), Some(plan), Some(policy)) if errors.is_empty() => {
            Ok(Validated {
                rules: Rules {
                    namespace_mapping: spec.namespace_mapping.clone().unwrap_or_default(),
                    preserve_node_ports: spec.preserve_node_ports == Some(true),
                    backup: backup.name_any(),
                    restore: String::new(),
                    restore_uid: String::new(),
                    restore_pvs: spec.restore_p_vs != Some(false),
                },
                backup,
                location,
                plan,
                policy,
                options,
                hooks,
            })
        }
        // Without errors all four are there: a spec without a source has an error.
        _ => Err(errors),
    })
}

/// The rules of the spec alone (no API): one source, a policy veloxide knows, no features it
/// does not run, filters that parse. Each problem goes to `errors`.
fn check_spec(
    spec: &RestoreSpec,
    errors: &mut Vec<String>,
) -> (Option<ExistingPolicy>, Option<Plan>) {
    let schedule = spec.schedule_name.as_deref().unwrap_or("");
    if spec.backup_name.is_empty() == schedule.is_empty() {
        errors.push(
            "Either a backup or schedule must be specified as a source for the restore, but not both"
                .to_owned(),
        );
    }
    let policy = ExistingPolicy::parse(spec.existing_resource_policy.as_deref())
        .map_err(|e| errors.push(e))
        .ok();
    // A filter not applied would restore what the policy leaves out: refused, not warned.
    if let Some(policy) = &spec.resource_policy {
        errors.push(format!(
            "spec.resourcePolicy: restore resource policies ({}/{}) are not applied by veloxide \
             yet; remove it and narrow the restore with includedResources, excludedResources \
             and labelSelector instead",
            policy.kind, policy.name
        ));
    }
    let filters = BackupSpec {
        included_namespaces: spec.included_namespaces.clone(),
        excluded_namespaces: spec.excluded_namespaces.clone(),
        included_resources: spec.included_resources.clone(),
        excluded_resources: spec.excluded_resources.clone(),
        include_cluster_resources: spec.include_cluster_resources,
        label_selector: spec.label_selector.clone(),
        or_label_selectors: spec.or_label_selectors.clone(),
        ..Default::default()
    };
    let plan = Plan::from_spec(&filters).map_err(|e| errors.extend(e)).ok();
    (policy, plan)
}

/// The backup the restore names, or the newest Completed one its schedule made here.
async fn source_backup(
    ctx: &Context,
    spec: &RestoreSpec,
    schedule: &str,
) -> Result<Option<Backup>, Error> {
    let backups: Api<Backup> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    if !spec.backup_name.is_empty() {
        return Ok(backups.get_opt(&spec.backup_name).await?);
    }
    if schedule.is_empty() {
        return Ok(None);
    }
    // Only what this cluster's Schedule of that name made: a standby cluster with the same
    // Schedule must not restore the other site's newest backup by accident.
    let schedules: Api<Schedule> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let Some(schedule) = schedules.get_opt(schedule).await? else {
        return Ok(None);
    };
    let list = backups
        .list(&ListParams::default().labels(&crate::schedule::own::selector(&schedule)))
        .await?;
    Ok(list
        .items
        .into_iter()
        .filter(|b| b.phase() == BackupPhase::Completed && made_by(&schedule, b))
        .max_by_key(|b| {
            b.status
                .as_ref()
                .and_then(|s| s.start_timestamp.as_ref())
                .map(|t| t.0)
        }))
}

/// The location of a backup that can be restored (it finished); its problems go to `errors`.
async fn backup_location(
    ctx: &Context,
    backup: &Backup,
    errors: &mut Vec<String>,
) -> Result<Option<BackupStorageLocation>, Error> {
    if !matches!(
        backup.phase(),
        BackupPhase::Completed | BackupPhase::PartiallyFailed
    ) {
        errors.push(format!(
            "backup {:?} is in phase {}; only Completed or PartiallyFailed backups can be restored",
            backup.name_any(),
            backup.phase().as_str()
        ));
        return Ok(None);
    }
    // Where the backup was written (its record), not a location its spec names later.
    let name = backup.files_location().unwrap_or_default().to_owned();
    let locations: Api<BackupStorageLocation> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let location = locations.get_opt(&name).await?;
    match &location {
        None => errors.push(format!(
            "backup storage location {name:?} of backup {:?} does not exist",
            backup.name_any()
        )),
        Some(l) => {
            if let Some(why) = crate::controller::written::moved(backup, l) {
                errors.push(why);
                return Ok(None);
            }
        }
    }
    Ok(location)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// (spec, the start of the one error wanted, or none)
    #[test]
    fn spec_rules() {
        let cases = [
            (json!({"backupName": "b"}), None),
            (
                json!({"backupName": "b", "resourcePolicy": {"kind": "configmap", "name": "keep-small"}}),
                Some(
                    "spec.resourcePolicy: restore resource policies (configmap/keep-small) are not applied by veloxide yet; remove it",
                ),
            ),
            (
                json!({"backupName": "b", "uploaderConfig": {"parallelFilesDownload": 2}}),
                None,
            ),
        ];
        for (spec, want) in cases {
            let mut errors = Vec::new();
            check_spec(&serde_json::from_value(spec.clone()).unwrap(), &mut errors);
            match want {
                None => assert!(errors.is_empty(), "{spec}: {errors:?}"),
                Some(want) => assert!(
                    errors.len() == 1 && errors[0].starts_with(want),
                    "{spec}: {errors:?}"
                ),
            }
        }
    }
}
