//! Certificates made at test time: a CA per run, server certificates with any names and
//! validity, client certificates for mutual TLS. Minted by the product's own module
//! (`veloxide install` makes the webhook's certificates with it), included here by path so the
//! tests and the product share one way of making certificates.

use std::path::{Path, PathBuf};

#[path = "../../../src/cli/install/mint.rs"]
mod mint;

pub use mint::{DAY, Issued, Spec, Usage};

/// Issue a certificate for `spec`, signed by `issuer` or self-signed.
pub fn issue(spec: &Spec, issuer: Option<&Issued>) -> Issued {
    mint::issue(spec, issuer).expect("mint a certificate")
}

impl Issued {
    pub fn cert_pem(&self) -> Vec<u8> {
        self.cert.to_pem().expect("PEM encoding")
    }
    pub fn key_pem(&self) -> Vec<u8> {
        self.key
            .private_key_to_pem_pkcs8()
            .expect("PKCS#8 encoding")
    }
    /// The certificate's PEM as text, for tests that build YAML or bundles by hand.
    pub fn cert_pem_text(&self) -> String {
        String::from_utf8(self.cert_pem()).expect("PEM is ASCII")
    }
    /// Write `NAME.crt` and `NAME.key`; returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let crt = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&crt, self.cert_pem()).expect("write certificate");
        std::fs::write(&key, self.key_pem()).expect("write key");
        (crt, key)
    }
    /// Certificate then key in one file, as HAProxy's `crt` wants.
    pub fn write_combined(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}.pem"));
        let mut pem = self.cert_pem();
        pem.extend_from_slice(&self.key_pem());
        std::fs::write(&path, pem).expect("write combined PEM");
        path
    }
}

/// A CA that issues certificates.
#[derive(Clone, Debug)]
pub struct Pki {
    pub ca: Issued,
}

impl Pki {
    /// A new CA valid from yesterday for a year.
    pub fn new(cn: &str) -> Pki {
        Pki {
            ca: issue(&Spec::ca(cn), None),
        }
    }

    /// A server certificate for `dns` names and `ips`, valid from yesterday for 90 days.
    pub fn server(&self, dns: &[&str], ips: &[&str]) -> Issued {
        self.leaf(Usage::Server, dns, ips, -DAY, 90 * DAY)
    }

    /// A client certificate with common name `cn`.
    pub fn client(&self, cn: &str) -> Issued {
        issue(&Spec::leaf(cn, Usage::Client, &[], &[]), Some(&self.ca))
    }

    /// Any leaf; validity in seconds from now (negative is the past).
    pub fn leaf(
        &self,
        usage: Usage,
        dns: &[&str],
        ips: &[&str],
        not_before: i64,
        not_after: i64,
    ) -> Issued {
        let cn = dns.first().or(ips.first()).copied().unwrap_or("peer");
        let spec = Spec {
            not_before,
            not_after,
            ..Spec::leaf(cn, usage, dns, ips)
        };
        issue(&spec, Some(&self.ca))
    }
}
