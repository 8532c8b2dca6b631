//! A CA made for each run, the serving certificate it signs, and the kubeconfig clients read.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509NameBuilder};

/// A certificate and its key, PEM-encoded.
#[derive(Clone)]
pub struct CertPair {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for CertPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertPair { key: <redacted> }")
    }
}

fn key() -> Result<PKey<Private>, ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

fn serial() -> Result<openssl::asn1::Asn1Integer, ErrorStack> {
    let mut bn = BigNum::new()?;
    bn.rand(120, MsbOption::MAYBE_ZERO, false)?;
    bn.to_asn1_integer()
}

/// A CA and a leaf it signed for `names` (DNS names or IP addresses).
pub struct Pki {
    pub ca: CertPair,
    pub leaf: CertPair,
}

/// Makes a fresh CA named `ca_name` and a serving certificate for `names`.
pub fn generate(ca_name: &str, names: &[&str]) -> Result<Pki, ErrorStack> {
    let ca_key = key()?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, ca_name)?;
    let ca_name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let sn = serial()?;
    b.set_serial_number(&sn)?;
    b.set_subject_name(&ca_name)?;
    b.set_issuer_name(&ca_name)?;
    b.set_pubkey(&ca_key)?;
    b.set_not_before(&*Asn1Time::days_from_now(0)?)?;
    b.set_not_after(&*Asn1Time::days_from_now(365)?)?;
    b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    b.sign(&ca_key, MessageDigest::sha256())?;
    let ca_cert = b.build();

    let leaf_key = key()?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(
        Nid::COMMONNAME,
        names.first().copied().unwrap_or("localhost"),
    )?;
    let leaf_name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let sn = serial()?;
    b.set_serial_number(&sn)?;
    b.set_subject_name(&leaf_name)?;
    b.set_issuer_name(ca_cert.subject_name())?;
    b.set_pubkey(&leaf_key)?;
    b.set_not_before(&*Asn1Time::days_from_now(0)?)?;
    b.set_not_after(&*Asn1Time::days_from_now(365)?)?;
    b.append_extension(BasicConstraints::new().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_encipherment()
            .build()?,
    )?;
    b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    let mut san = SubjectAlternativeName::new();
    for n in names {
        if n.parse::<std::net::IpAddr>().is_ok() {
            san.ip(n);
        } else {
            san.dns(n);
        }
    }
    let san = san.build(&b.x509v3_context(Some(&ca_cert), None))?;
    b.append_extension(san)?;
    b.sign(&ca_key, MessageDigest::sha256())?;
    let leaf = b.build();
    Ok(Pki {
        ca: CertPair {
            cert_pem: ca_cert.to_pem()?,
            key_pem: ca_key.private_key_to_pem_pkcs8()?,
        },
        leaf: CertPair {
            cert_pem: leaf.to_pem()?,
            key_pem: leaf_key.private_key_to_pem_pkcs8()?,
        },
    })
}

/// A random hex token (bearer tokens, uids).
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    openssl::rand::rand_bytes(&mut buf).expect("the OpenSSL RNG works");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A version-4 UUID.
pub fn uuid() -> String {
    let h = random_hex(16);
    let mut b: Vec<char> = h.chars().collect();
    b[12] = '4';
    b[16] = ['8', '9', 'a', 'b'][(b[16].to_digit(16).unwrap_or(0) % 4) as usize];
    let s: String = b.into_iter().collect();
    format!(
        "{}-{}-{}-{}-{}",
        &s[0..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

/// The kubeconfig a client needs: the CA, the server URL and a bearer token.
pub fn kubeconfig(server: &str, ca_pem: &[u8], token: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: admin\n  user:\n    token: {token}\ncontexts:\n- name: standin\n  context:\n    cluster: standin\n    user: admin\n    namespace: default\ncurrent-context: standin\npreferences: {{}}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_verifies_against_its_ca() {
        let pki = generate("test-ca", &["127.0.0.1", "localhost"]).unwrap();
        let ca = X509::from_pem(&pki.ca.cert_pem).unwrap();
        let leaf = X509::from_pem(&pki.leaf.cert_pem).unwrap();
        assert!(leaf.verify(&ca.public_key().unwrap()).unwrap());
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
