//! What a new leader does before its DeleteBackupRequest controller starts: a request left
//! `InProgress` (its runner died or lost the lease mid-deletion) is carried out again, not
//! left until it is removed a day later with the backup half deleted. Deleting is idempotent
//! (what is already gone stays gone), so the request goes back to `New` and runs from the top,
//! through the same refusals; when its Backup object is already gone, the last step had been
//! done, and the request is `Processed`.
//!
//! Each write carries the resourceVersion listed, so a request another runner finished in the
//! meantime keeps its status.

use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};

use crate::api::{
    Backup, DeleteBackupRequest, DeleteBackupRequestPhase, DeleteBackupRequestStatus,
};
use crate::controller::fence::Swept;
use crate::controller::{Context, list};

/// What to do with a request found `InProgress` at the start of a term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Run it again from `New`.
    Again,
    /// Its Backup object is gone, the last step of a deletion: `Processed`, without errors.
    Done,
}

/// The decision, from whether the request's Backup still exists.
pub fn resume(backup_exists: bool) -> Resume {
    if backup_exists {
        Resume::Again
    } else {
        Resume::Done
    }
}

/// Resume every `InProgress` request. Only listing them can fail the sweep as a whole; a
/// request that cannot be written is logged and left (the next term tries again).
pub async fn resume_in_progress(ctx: &Context) -> Result<Swept, kube::Error> {
    let requests: Api<DeleteBackupRequest> =
        Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let backups: Api<Backup> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let mut swept = Swept::default();
    for request in list::all(&requests, &ListParams::default())
        .await?
        .into_iter()
        .filter(|r| r.phase() == DeleteBackupRequestPhase::InProgress)
    {
        swept.found += 1;
        let name = request.name_any();
        let backup = &request.spec.backup_name;
        let exists = match backups.get_opt(backup).await {
            Ok(found) => found.is_some(),
            Err(e) => {
                tracing::warn!(request = %name, error = %e, "could not look at the request's backup; left InProgress for the next term");
                swept.skipped.push(name);
                continue;
            }
        };
        let status = match resume(exists) {
            Resume::Again => DeleteBackupRequestStatus {
                phase: Some(DeleteBackupRequestPhase::New),
                errors: None,
            },
            Resume::Done => DeleteBackupRequestStatus {
                phase: Some(DeleteBackupRequestPhase::Processed),
                errors: None,
            },
        };
        let mut next = request.clone();
        next.status = Some(status);
        next.metadata.managed_fields = None;
        match requests
            .replace_status(&name, &PostParams::default(), &next)
            .await
        {
            Ok(_) => {
                // `failed` counts the requests this sweep wrote (resumed or finished).
                swept.failed += 1;
                tracing::info!(request = %name, %backup, "a deletion left InProgress by the previous leader is resumed");
            }
            Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => {}
            Err(e) => {
                tracing::warn!(request = %name, error = %e, "could not resume the request; left InProgress for the next term");
                swept.skipped.push(name);
            }
        }
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_whose_backup_is_gone_had_finished() {
        assert_eq!(resume(true), Resume::Again);
        assert_eq!(resume(false), Resume::Done);
    }
}
