//! Shared by the integration tests.
#![allow(dead_code)]

pub mod cases;
pub mod webhook_proc;
