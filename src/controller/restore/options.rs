//! Reading what a restore's options need when it is validated: the resource modifier
//! ConfigMap the spec names, the status filter, the server's priorities.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

use crate::api::RestoreSpec;
use crate::backup::Plan;
use crate::controller::{Context, Error};
use crate::restore::modifiers::Modifiers;
use crate::restore::options::Options;

/// The spec's options, read and checked; each problem goes to `errors` naming its field.
pub(super) async fn options(
    ctx: &Context,
    spec: &RestoreSpec,
    errors: &mut Vec<String>,
) -> Result<Options, Error> {
    Ok(Options {
        modifiers: modifiers(ctx, spec, errors).await?,
        status: status_plan(spec, errors),
        // Read when the restore runs (restore::plugins), as Velero's actions read them.
        plugins: Default::default(),
        priorities: ctx.settings.restore_priorities.clone(),
        dry_run: spec.dry_run == Some(true),
    })
}

/// `spec.restoreStatus` as a filter (Velero: present with no includes means every resource).
pub(super) fn status_plan(spec: &RestoreSpec, errors: &mut Vec<String>) -> Option<Plan> {
    let status = spec.restore_status.as_ref()?;
    let filters = crate::api::BackupSpec {
        included_resources: status.included_resources.clone(),
        excluded_resources: status.excluded_resources.clone(),
        // Every resource, cluster-scoped ones too: this filter only picks resources.
        include_cluster_resources: Some(true),
        ..Default::default()
    };
    Plan::from_spec(&filters)
        .map_err(|e| {
            errors.extend(
                e.into_iter()
                    .map(|m| m.replacen("spec.", "spec.restoreStatus.", 1)),
            )
        })
        .ok()
}

async fn modifiers(
    ctx: &Context,
    spec: &RestoreSpec,
    errors: &mut Vec<String>,
) -> Result<Option<Modifiers>, Error> {
    let Some(reference) = &spec.resource_modifier else {
        return Ok(None);
    };
    if !reference.kind.eq_ignore_ascii_case("configmap") {
        errors.push(format!(
            "spec.resourceModifier.kind: {:?} is not supported; resource modifiers are read from \
             a ConfigMap (kind: ConfigMap)",
            reference.kind
        ));
        return Ok(None);
    }
    let ns = &ctx.settings.namespace;
    let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    let Some(map) = maps.get_opt(&reference.name).await? else {
        errors.push(format!(
            "spec.resourceModifier: failed to get resource modifiers configmap {ns}/{}: it does \
             not exist; create it in the restore's namespace",
            reference.name
        ));
        return Ok(None);
    };
    let data = map.data.unwrap_or_default();
    Ok(
        Modifiers::from_config_map(&format!("{ns}/{}", reference.name), &data)
            .map_err(|e| errors.extend(e))
            .ok(),
    )
}
