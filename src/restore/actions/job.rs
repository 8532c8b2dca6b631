//! Jobs (`pkg/restore/actions/job_action.go`): the API server generates a Job's selector and
//! its pods' labels from the Job's uid (`batch.kubernetes.io/controller-uid`, before 1.27
//! `controller-uid`) and refuses a new Job that carries another uid's ("`selector` not
//! auto-generated"); both go, for the API server to generate them again.

use serde_json::Value;

use super::types::{Context, Stop, remove_keys};

const CONTROLLER_UID: [&str; 2] = ["batch.kubernetes.io/controller-uid", "controller-uid"];

pub fn restore(object: &mut Value, _: &Context<'_>) -> Result<(), Stop> {
    remove_keys(
        object,
        &["spec", "selector", "matchLabels"],
        &CONTROLLER_UID,
    );
    remove_keys(
        object,
        &["spec", "template", "metadata", "labels"],
        &CONTROLLER_UID,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::TestContext;
    use super::*;
    use serde_json::json;

    #[test]
    fn the_generated_uid_labels_go_and_the_rest_stays() {
        let t = TestContext::new();
        let mut job = json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "migrate", "namespace": "app"},
            "spec": {
                "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}},
                "template": {"metadata": {"labels": {
                    "batch.kubernetes.io/controller-uid": "u-1", "controller-uid": "u-1",
                    "batch.kubernetes.io/job-name": "migrate", "job-name": "migrate",
                    "app": "db"}},
                    "spec": {"restartPolicy": "Never", "containers": []}}}});
        restore(&mut job, &t.ctx()).unwrap();
        assert_eq!(job["spec"]["selector"], json!({"matchLabels": {}}));
        assert_eq!(
            job["spec"]["template"]["metadata"]["labels"],
            json!({"batch.kubernetes.io/job-name": "migrate", "job-name": "migrate", "app": "db"})
        );
        // A manual selector keeps its own labels.
        let mut manual = json!({"spec": {"manualSelector": true,
            "selector": {"matchLabels": {"app": "db"}}}});
        let before = manual.clone();
        restore(&mut manual, &t.ctx()).unwrap();
        assert_eq!(manual, before);
    }
}
