//! Certificates made at test time: a CA per run, server certificates with any names and
//! validity, client certificates for mutual TLS.

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509NameBuilder};

pub const DAY: i64 = 24 * 3600;

/// A certificate and its key.
#[derive(Clone)]
pub struct Issued {
    pub cert: X509,
    pub key: PKey<Private>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("subject", &self.cert.subject_name())
            .finish_non_exhaustive()
    }
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

/// What a leaf certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    Server,
    Client,
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
            ca: build(cn, None, true, None, &[], &[], -DAY, 365 * DAY),
        }
    }

    /// A server certificate for `dns` names and `ips`, valid from yesterday for 90 days.
    pub fn server(&self, dns: &[&str], ips: &[&str]) -> Issued {
        self.leaf(Usage::Server, dns, ips, -DAY, 90 * DAY)
    }

    /// A client certificate with common name `cn`.
    pub fn client(&self, cn: &str) -> Issued {
        build(
            cn,
            Some(&self.ca),
            false,
            Some(Usage::Client),
            &[],
            &[],
            -DAY,
            90 * DAY,
        )
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
        build(
            cn,
            Some(&self.ca),
            false,
            Some(usage),
            dns,
            ips,
            not_before,
            not_after,
        )
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

#[allow(clippy::too_many_arguments)]
fn build(
    cn: &str,
    issuer: Option<&Issued>,
    is_ca: bool,
    usage: Option<Usage>,
    dns: &[&str],
    ips: &[&str],
    not_before: i64,
    not_after: i64,
) -> Issued {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
    let key = PKey::from_ec_key(EcKey::generate(&group).expect("EC key")).expect("PKey");
    let mut name = X509NameBuilder::new().expect("name builder");
    name.append_entry_by_nid(Nid::COMMONNAME, cn).expect("CN");
    let name = name.build();
    let mut b = X509::builder().expect("X509 builder");
    b.set_version(2).expect("v3");
    let mut serial = BigNum::new().expect("bignum");
    serial
        .rand(64, openssl::bn::MsbOption::MAYBE_ZERO, false)
        .expect("random serial");
    b.set_serial_number(&serial.to_asn1_integer().expect("serial"))
        .expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(issuer.map_or(&name, |i| i.cert.subject_name()))
        .expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::from_unix(now() + not_before).expect("time"))
        .expect("not before");
    b.set_not_after(&Asn1Time::from_unix(now() + not_after).expect("time"))
        .expect("not after");
    let mut bc = BasicConstraints::new();
    bc.critical();
    if is_ca {
        bc.ca();
    }
    b.append_extension(bc.build().expect("bc")).expect("bc");
    if is_ca {
        let ku = KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build();
        b.append_extension(ku.expect("ku")).expect("ku");
    } else {
        let ku = KeyUsage::new().critical().digital_signature().build();
        b.append_extension(ku.expect("ku")).expect("ku");
    }
    match usage {
        Some(Usage::Server) => b
            .append_extension(ExtendedKeyUsage::new().server_auth().build().expect("eku"))
            .expect("eku"),
        Some(Usage::Client) => b
            .append_extension(ExtendedKeyUsage::new().client_auth().build().expect("eku"))
            .expect("eku"),
        None => {}
    }
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(issuer.map(|i| i.cert.as_ref()), None))
        .expect("ski");
    b.append_extension(ski).expect("ski");
    if issuer.is_some() {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(issuer.map(|i| i.cert.as_ref()), None))
            .expect("aki");
        b.append_extension(aki).expect("aki");
    }
    if !dns.is_empty() || !ips.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for d in dns {
            san.dns(d);
        }
        for ip in ips {
            san.ip(ip);
        }
        let ext = san
            .build(&b.x509v3_context(issuer.map(|i| i.cert.as_ref()), None))
            .expect("san");
        b.append_extension(ext).expect("san");
    }
    let signer = issuer.map_or(&key, |i| &i.key);
    b.sign(signer, MessageDigest::sha256()).expect("sign");
    Issued {
        cert: b.build(),
        key,
    }
}
