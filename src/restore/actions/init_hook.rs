//! Init-container restore hooks (`pkg/restore/actions/init_restorehook_pod_action.go`): the
//! containers of `spec.hooks` (or of the pod's `init.hook.restore.velero.io/*` annotations,
//! which win) go in front of a restored pod's own init containers, after Velero's file-system
//! `restore-wait` container. The decision is `hooks::restore::add_init_containers`.

use serde_json::Value;

use super::types::{Context, Stop};

pub fn restore(object: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    crate::hooks::restore::add_init_containers(object, ctx.hooks);
    Ok(())
}
