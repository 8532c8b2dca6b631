//! The validating admission webhook for BackupStorageLocations and Schedules.
//!
//! `review` is a plain function from request bytes to response bytes; `router` wraps it in
//! axum; `tls` owns the serving certificate and its rotation; `serve` ties them together.

mod review;
mod router;
mod schedule;
mod serve;
pub mod tls;

pub use review::{BadRequest, review, review_with};
pub use router::{router, router_with};
pub use schedule::review_schedule;
pub use serve::{ServeError, ServeOptions, serve};

/// Where the API server sends BackupStorageLocation admission reviews.
pub const VALIDATE_BSL_PATH: &str = "/validate-velero-io-v1-backupstoragelocation";

/// Where the API server sends Schedule admission reviews.
pub const VALIDATE_SCHEDULE_PATH: &str = "/validate-velero-io-v1-schedule";
