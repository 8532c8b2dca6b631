//! The webhook's CA and serving certificate, made at install time by `mint` (OpenSSL, the TLS stack
//! the project already uses; `webhook-certs/gen-dev-certs.sh` makes the same pair with the
//! `openssl` command) and, on a re-run, kept as the Helm chart keeps them: the CA as long as it
//! is valid, the serving certificate unless it nears its end or names other DNS names. So a
//! second `veloxide install` changes neither the Secret nor the `caBundle`.

use std::collections::BTreeMap;

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::error::ErrorStack;
use openssl::pkey::PKey;
use openssl::x509::X509;

use super::mint::{self, DAY, Issued, Spec, Usage};

/// The chart's defaults (`webhook.certificate.generate`).
const CA_DAYS: i64 = 3650;
const CERT_DAYS: i64 = 730;
const RENEW_BEFORE_DAYS: u32 = 90;

/// The webhook's certificates as the `kubernetes.io/tls` Secret holds them (PEM).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookCerts {
    pub ca_cert: Vec<u8>,
    pub ca_key: Vec<u8>,
    pub tls_cert: Vec<u8>,
    pub tls_key: Vec<u8>,
}

impl std::fmt::Debug for WebhookCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookCerts { keys: <redacted> }")
    }
}

/// The names the API server may call the webhook's Service by.
pub fn dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// Keep what `existing` (the Secret's data) holds where it is still good; make the rest.
pub fn reuse_or_generate(
    existing: Option<&BTreeMap<String, Vec<u8>>>,
    names: &[String],
) -> Result<WebhookCerts, ErrorStack> {
    let renew_at = Asn1Time::days_from_now(RENEW_BEFORE_DAYS)?;
    let lasts = |t: &Asn1TimeRef| t > renew_at.as_ref();
    let data = existing.cloned().unwrap_or_default();
    let get = |k: &str| data.get(k).filter(|v| !v.is_empty());
    let ca = match (get("ca.crt"), get("ca.key")) {
        (Some(c), Some(k)) => match (X509::from_pem(c), PKey::private_key_from_pem(k)) {
            (Ok(cert), Ok(key))
                if lasts(cert.not_after()) && cert.public_key()?.public_eq(&key) =>
            {
                Some(Issued { cert, key })
            }
            _ => None,
        },
        _ => None,
    };
    let Some(ca) = ca else {
        return generate(names);
    };
    let ca_public = ca.cert.public_key()?;
    let leaf = match (get("tls.crt"), get("tls.key")) {
        (Some(c), Some(k)) => match (X509::from_pem(c), PKey::private_key_from_pem(k)) {
            (Ok(cert), Ok(key))
                if lasts(cert.not_after())
                    && cert.verify(&ca_public).unwrap_or(false)
                    && cert.public_key()?.public_eq(&key)
                    && sans(&cert) == names =>
            {
                Some(Issued { cert, key })
            }
            _ => None,
        },
        _ => None,
    };
    let leaf = match leaf {
        Some(leaf) => leaf,
        None => issue(&ca, names)?,
    };
    pem(&ca, &leaf)
}

/// A fresh CA and a serving certificate for `names` (the first one is the common name).
pub fn generate(names: &[String]) -> Result<WebhookCerts, ErrorStack> {
    let ca = mint::issue(
        &Spec {
            not_before: 0,
            not_after: CA_DAYS * DAY,
            key_ids: false,
            ..Spec::ca("veloxide-webhook-ca")
        },
        None,
    )?;
    let leaf = issue(&ca, names)?;
    pem(&ca, &leaf)
}

/// The serving certificate for `names`, signed by `ca`.
fn issue(ca: &Issued, names: &[String]) -> Result<Issued, ErrorStack> {
    // The `.svc` name, as the chart and gen-dev-certs.sh use.
    let common_name = names.get(2).or(names.first()).map_or("veloxide", |s| s);
    let dns: Vec<&str> = names.iter().map(String::as_str).collect();
    mint::issue(
        &Spec {
            not_before: 0,
            not_after: CERT_DAYS * DAY,
            key_ids: false,
            ..Spec::leaf(common_name, Usage::Server, &dns, &[])
        },
        Some(ca),
    )
}

fn sans(cert: &X509) -> Vec<String> {
    cert.subject_alt_names()
        .into_iter()
        .flatten()
        .filter_map(|n| n.dnsname().map(str::to_owned))
        .collect()
}

fn pem(ca: &Issued, leaf: &Issued) -> Result<WebhookCerts, ErrorStack> {
    Ok(WebhookCerts {
        ca_cert: ca.cert.to_pem()?,
        ca_key: ca.key.private_key_to_pem_pkcs8()?,
        tls_cert: leaf.cert.to_pem()?,
        tls_key: leaf.key.private_key_to_pem_pkcs8()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_secret(c: &WebhookCerts) -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([
            ("ca.crt".to_owned(), c.ca_cert.clone()),
            ("ca.key".to_owned(), c.ca_key.clone()),
            ("tls.crt".to_owned(), c.tls_cert.clone()),
            ("tls.key".to_owned(), c.tls_key.clone()),
        ])
    }

    #[test]
    fn serving_certificate_names_the_service_and_chains_to_the_ca() {
        let names = dns_names("veloxide", "velero");
        let certs = generate(&names).unwrap();
        let ca = X509::from_pem(&certs.ca_cert).unwrap();
        let leaf = X509::from_pem(&certs.tls_cert).unwrap();
        assert!(leaf.verify(&ca.public_key().unwrap()).unwrap());
        assert_eq!(sans(&leaf), names);
        assert!(!format!("{certs:?}").contains("PRIVATE"));
    }

    #[test]
    fn a_rerun_keeps_what_is_still_good() {
        let names = dns_names("veloxide", "velero");
        let first = generate(&names).unwrap();
        let again = reuse_or_generate(Some(&as_secret(&first)), &names).unwrap();
        assert_eq!(again, first);

        // Another namespace: same CA, a new serving certificate for the new names.
        let other = dns_names("veloxide", "backup");
        let moved = reuse_or_generate(Some(&as_secret(&first)), &other).unwrap();
        assert_eq!(moved.ca_cert, first.ca_cert);
        assert_ne!(moved.tls_cert, first.tls_cert);
        assert_eq!(sans(&X509::from_pem(&moved.tls_cert).unwrap()), other);

        // A Secret without the CA key (or with garbage): everything made afresh.
        let mut broken = as_secret(&first);
        broken.insert("ca.key".into(), b"not a key".to_vec());
        let fresh = reuse_or_generate(Some(&broken), &names).unwrap();
        assert_ne!(fresh.ca_cert, first.ca_cert);
        let fresh = reuse_or_generate(None, &names).unwrap();
        assert_ne!(fresh.ca_cert, first.ca_cert);
    }
}
