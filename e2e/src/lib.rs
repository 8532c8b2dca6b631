//! Test infrastructure for veloxide's end-to-end scenarios. Nothing here ships in the product.
#![forbid(unsafe_code)]

pub mod peers;
pub mod standin;
