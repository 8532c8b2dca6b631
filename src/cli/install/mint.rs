//! Minting X.509 certificates with OpenSSL: the project's one place that makes them.
//! `veloxide install` makes the webhook's CA and serving certificate with it, and the e2e crate
//! includes this file with `#[path]` for every certificate the tests need (CAs, servers,
//! clients, expired or not yet valid ones). So it uses nothing but `std` and `openssl`, which
//! both crates depend on, and the dependency points one way: tests on product code.

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509NameBuilder};

pub const DAY: i64 = 24 * 3600;

/// What a leaf certificate is for (its extended key usage).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    Server,
    Client,
}

/// What to put in a certificate.
#[derive(Clone, Copy, Debug)]
pub struct Spec<'a> {
    pub cn: &'a str,
    pub is_ca: bool,
    /// The extended key usage of a leaf; none for a CA.
    pub usage: Option<Usage>,
    /// Seconds from now; negative is the past.
    pub not_before: i64,
    pub not_after: i64,
    pub dns: &'a [&'a str],
    pub ips: &'a [&'a str],
    /// Subject and authority key identifiers. The test peers' certificates carry them;
    /// `veloxide install`'s never have, and keep not to.
    pub key_ids: bool,
}

impl<'a> Spec<'a> {
    /// A CA valid from yesterday (a little clock skew is harmless) for a year.
    pub fn ca(cn: &'a str) -> Self {
        Spec {
            cn,
            is_ca: true,
            usage: None,
            not_before: -DAY,
            not_after: 365 * DAY,
            dns: &[],
            ips: &[],
            key_ids: true,
        }
    }

    /// A leaf for `usage` with the given names, valid from yesterday for 90 days.
    pub fn leaf(cn: &'a str, usage: Usage, dns: &'a [&'a str], ips: &'a [&'a str]) -> Self {
        Spec {
            is_ca: false,
            usage: Some(usage),
            not_after: 90 * DAY,
            dns,
            ips,
            ..Spec::ca(cn)
        }
    }
}

/// A certificate and its key. `Debug` names the subject only.
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

/// Issue a certificate for `spec` with a new P-256 key, signed by `issuer` or self-signed.
pub fn issue(spec: &Spec, issuer: Option<&Issued>) -> Result<Issued, ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, spec.cn)?;
    let name = name.build();
    let issuer_cert = issuer.map(|i| i.cert.as_ref());
    let mut b = X509::builder()?;
    b.set_version(2)?;
    b.set_serial_number(&*serial()?)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(issuer_cert.map_or(&name, |c| c.subject_name()))?;
    b.set_pubkey(&key)?;
    b.set_not_before(&*Asn1Time::from_unix(now() + spec.not_before)?)?;
    b.set_not_after(&*Asn1Time::from_unix(now() + spec.not_after)?)?;
    let mut bc = BasicConstraints::new();
    bc.critical();
    if spec.is_ca {
        bc.ca();
    }
    b.append_extension(bc.build()?)?;
    let mut ku = KeyUsage::new();
    ku.critical();
    if spec.is_ca {
        ku.key_cert_sign().crl_sign();
    } else {
        ku.digital_signature().key_encipherment();
    }
    b.append_extension(ku.build()?)?;
    match spec.usage {
        Some(Usage::Server) => {
            b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
        }
        Some(Usage::Client) => {
            b.append_extension(ExtendedKeyUsage::new().client_auth().build()?)?;
        }
        None => {}
    }
    if spec.key_ids {
        let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(issuer_cert, None))?;
        b.append_extension(ski)?;
        if issuer.is_some() {
            let aki = AuthorityKeyIdentifier::new()
                .keyid(true)
                .build(&b.x509v3_context(issuer_cert, None))?;
            b.append_extension(aki)?;
        }
    }
    if !spec.dns.is_empty() || !spec.ips.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for d in spec.dns {
            san.dns(d);
        }
        for ip in spec.ips {
            san.ip(ip);
        }
        b.append_extension(san.build(&b.x509v3_context(issuer_cert, None))?)?;
    }
    b.sign(issuer.map_or(&key, |i| &i.key), MessageDigest::sha256())?;
    Ok(Issued {
        cert: b.build(),
        key,
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn serial() -> Result<Asn1Integer, ErrorStack> {
    let mut bn = BigNum::new()?;
    bn.rand(120, MsbOption::MAYBE_ZERO, false)?;
    bn.to_asn1_integer()
}
