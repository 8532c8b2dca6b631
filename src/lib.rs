//! veloxide: a Kubernetes backup operator that speaks Velero's `velero.io/v1` API and does one
//! job well: backing cluster resources up to S3-compatible object storage behind a private CA,
//! encrypted at rest with SSE-S3, SSE-KMS or SSE-C.
#![forbid(unsafe_code)]

pub mod api;
pub mod backup;
pub mod cli;
pub mod controller;
pub mod crds;
pub mod hooks;
pub mod http_limits;
pub mod location;
pub mod metrics;
pub mod repository;
pub mod restore;
pub mod schedule;
pub mod server;
pub mod storage;
pub mod telemetry;
pub mod webhook;
