//! Velero's `velero.io/pod-volume-restore` action: a pod whose volumes were backed up file by
//! file gets the `restore-wait` init container first (`restore::fsb::wait_container`), so its
//! application starts once the node agent has written the volumes.

use serde_json::Value;

use super::types::{Context, Stop};
use crate::restore::fsb::wait_container;

pub fn restore(object: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    wait_container::add(
        object,
        &ctx.fs.volumes,
        &ctx.fs.image,
        &ctx.rules.restore_uid,
    );
    Ok(())
}
