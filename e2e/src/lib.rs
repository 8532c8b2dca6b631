//! Test infrastructure for veloxide's end-to-end scenarios. Nothing here ships in the product.
#![forbid(unsafe_code)]

pub mod cluster;
pub mod images;
pub mod manifests;
pub mod netns;
pub mod peers;

/// A random hex string of `bytes` bytes (names of namespaces and scratch directories).
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    openssl::rand::rand_bytes(&mut buf).expect("the OpenSSL RNG works");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
