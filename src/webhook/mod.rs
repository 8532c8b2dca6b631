//! The validating admission webhook for BackupStorageLocations.
//!
//! `review` is a plain function from request bytes to response bytes; `router` wraps it in
//! axum; `tls` owns the serving certificate and its rotation; `serve` ties them together.

mod review;
mod router;
mod serve;
pub mod tls;

pub use review::{BadRequest, review, review_with};
pub use router::{router, router_with};
pub use serve::{ServeError, ServeOptions, serve};

/// Where the API server sends BackupStorageLocation admission reviews.
pub const VALIDATE_BSL_PATH: &str = "/validate-velero-io-v1-backupstoragelocation";
