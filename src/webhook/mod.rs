//! The validating admission webhook for BackupStorageLocations and Schedules.
//!
//! `review` (locations) and `review_schedule` are plain functions from request bytes to
//! response bytes, sharing the decoding in `review.rs`; `router` wraps them in
//! axum; `tls` owns the serving certificate and its rotation; `serve` ties them together.

mod location;
mod review;
mod router;
mod schedule;
mod serve;
pub mod tls;

pub use location::{review, review_with};
pub use review::BadRequest;
pub use router::{VALIDATE_BSL_PATH, VALIDATE_SCHEDULE_PATH, router, router_with};
pub use schedule::review_schedule;
pub use serve::{ServeError, ServeOptions, serve};
