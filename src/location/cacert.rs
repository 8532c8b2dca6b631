//! Reading a CA bundle: what a user pasted into `caCert` (or stored in a `caCertRef` Secret)
//! is checked block by block, so the message says exactly what is wrong with it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Certificates expiring sooner than this are named in a warning.
const EXPIRY_WARNING: i64 = 30 * 24 * 3600;

/// A PEM bundle that holds at least one parseable, unexpired certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct CaBundle {
    /// The bundle as PEM, certificate blocks only (text between blocks dropped).
    pub pem: Vec<u8>,
    /// One entry per certificate, in bundle order.
    pub certificates: Vec<CertificateInfo>,
}

/// What the rest of the system needs to know about one certificate of a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The subject, as `CN=..., O=...`.
    pub subject: String,
    /// The end of validity, in seconds since the epoch.
    pub not_after: i64,
    /// Whether basic constraints mark it as a CA.
    pub is_ca: bool,
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaBundle")
            .field("certificates", &self.certificates)
            .finish_non_exhaustive()
    }
}

impl CaBundle {
    /// The earliest end of validity across the bundle, in seconds since the epoch.
    pub fn earliest_not_after(&self) -> Option<i64> {
        self.certificates.iter().map(|c| c.not_after).min()
    }
}

/// A bundle read successfully, with anything the user should hear about.
#[derive(Debug)]
pub struct Inspected {
    pub bundle: CaBundle,
    pub warnings: Vec<String>,
}

/// Decode the base64 of an inline `caCert` and inspect the PEM inside.
pub fn inspect_base64(field: &str, text: &str, now: Timestamp) -> Result<Inspected, String> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let decoded = STANDARD.decode(compact.as_bytes()).map_err(|_| {
        "is not valid base64; it must be the base64 of a PEM file, e.g. the output of \
         `base64 -w0 ca.crt` (or better, store the PEM in a Secret and use caCertRef)"
            .to_owned()
    })?;
    inspect_pem(field, &decoded, now)
}

/// Inspect a PEM bundle. `field` names where it came from, for messages about the bundle's
/// content (the caller prefixes the field path to the returned error itself).
pub fn inspect_pem(field: &str, bytes: &[u8], now: Timestamp) -> Result<Inspected, String> {
    let bundle = parse_cached(bytes)?;
    judge(field, bundle, now)
}

/// Parsed bundles by content digest. Admission sees the same bundle again and again (every
/// `kubectl apply` of an unchanged manifest, every GitOps sync), and parsing X.509 is the
/// bulk of a review's cost; what depends on the time is judged afresh on every call.
type ParsedCache = std::collections::HashMap<[u8; 32], Result<CaBundle, String>>;
static PARSED: std::sync::LazyLock<std::sync::Mutex<ParsedCache>> =
    std::sync::LazyLock::new(Default::default);
const PARSED_CAPACITY: usize = 256;

fn parse_cached(bytes: &[u8]) -> Result<CaBundle, String> {
    let digest = openssl::sha::sha256(bytes);
    if let Some(hit) = PARSED.lock().ok().and_then(|m| m.get(&digest).cloned()) {
        return hit;
    }
    let parsed = parse_bundle(bytes);
    if let Ok(mut cache) = PARSED.lock() {
        if cache.len() >= PARSED_CAPACITY {
            cache.clear();
        }
        cache.insert(digest, parsed.clone());
    }
    parsed
}

/// Everything about a bundle that does not depend on the time.
fn parse_bundle(bytes: &[u8]) -> Result<CaBundle, String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        if X509Certificate::from_der(bytes).is_ok() {
            return Err("holds a DER-encoded certificate, not PEM; convert it with \
                 `openssl x509 -inform der -in ca.der -out ca.pem` and use the PEM"
                .into());
        }
        return Err(
            "is binary data, not a PEM bundle; it must hold one or more \
             -----BEGIN CERTIFICATE----- blocks"
                .into(),
        );
    };
    if !text.contains("-----BEGIN") {
        return Err(no_pem_block_message(text));
    }
    let blocks = scan_blocks(text)?;
    let mut certificates = Vec::new();
    let mut pem = Vec::new();
    for (index, block) in blocks.iter().enumerate() {
        let n = index + 1;
        if block.label.contains("PRIVATE KEY") {
            return Err(format!(
                "block {n} is a {} block: a private key must never go in a CA bundle; remove it \
                 and treat that key as exposed (replace it)",
                block.label
            ));
        }
        if block.label != "CERTIFICATE" {
            return Err(format!(
                "block {n} is a {} block; a CA bundle holds only CERTIFICATE blocks",
                block.label
            ));
        }
        let der = decode_body(n, &block.body)?;
        let info = certificate_info(n, &der)?;
        pem.extend_from_slice(&reencode(&der));
        certificates.push(info);
    }
    if certificates.is_empty() {
        // "-----BEGIN" only inside a line, never as a block of its own.
        return Err(no_pem_block_message(text));
    }
    Ok(CaBundle { pem, certificates })
}

/// Expiry and CA checks against `now`.
fn judge(field: &str, bundle: CaBundle, now: Timestamp) -> Result<Inspected, String> {
    let certificates = &bundle.certificates;
    let mut warnings = Vec::new();
    let now_s = now.as_second();
    let expired: Vec<&CertificateInfo> = certificates
        .iter()
        .filter(|c| c.not_after <= now_s)
        .collect();
    if expired.len() == certificates.len() {
        return Err(format!(
            "every certificate in it has expired ({}); put the current CA certificate here",
            describe(&expired)
        ));
    }
    if !expired.is_empty() {
        warnings.push(format!(
            "{field}: some certificates have expired and will not be trusted: {}",
            describe(&expired)
        ));
    }
    let expiring: Vec<&CertificateInfo> = certificates
        .iter()
        .filter(|c| c.not_after > now_s && c.not_after <= now_s + EXPIRY_WARNING)
        .collect();
    if !expiring.is_empty() {
        warnings.push(format!(
            "{field}: certificates expiring within 30 days: {}",
            describe(&expiring)
        ));
    }
    for cert in certificates.iter().filter(|c| !c.is_ca) {
        warnings.push(format!(
            "{field}: {:?} is not a CA certificate; it is trusted as given (fine for a \
             self-signed server certificate), but trust breaks when that certificate is reissued",
            cert.subject
        ));
    }
    Ok(Inspected { bundle, warnings })
}

fn no_pem_block_message(text: &str) -> String {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if let Ok(inner) = STANDARD.decode(compact.as_bytes())
        && inner.windows(10).any(|w| w == b"-----BEGIN")
    {
        return "is base64-encoded twice: its base64 decodes to more base64 instead of PEM; \
                encode the PEM file once (`base64 -w0 ca.crt`)"
            .into();
    }
    "holds no PEM block; it must hold one or more -----BEGIN CERTIFICATE----- blocks".into()
}

struct Block {
    label: String,
    body: String,
}

/// Split text into PEM blocks. Text between blocks, CRLF line endings and surrounding
/// whitespace are allowed; a block without its END line, or whose END names another label,
/// is an error. Hand-written because the PEM crates skip or merge malformed blocks silently,
/// and the user needs to hear which block is broken and how.
fn scan_blocks(text: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for line in text.lines().map(str::trim) {
        if let Some(label) = pem_marker(line, "-----BEGIN ") {
            if let Some(open) = &current {
                return Err(truncated(blocks.len() + 1, &open.label));
            }
            current = Some(Block {
                label: label.to_owned(),
                body: String::new(),
            });
        } else if let Some(label) = pem_marker(line, "-----END ") {
            let n = blocks.len() + 1;
            let Some(open) = current.take() else {
                return Err(format!(
                    "block {n} has an END line without a BEGIN line; the bundle is garbled"
                ));
            };
            if label != open.label {
                return Err(format!(
                    "block {n} begins as {} but ends as {label}; the bundle is garbled",
                    open.label
                ));
            }
            blocks.push(open);
        } else if let Some(open) = current.as_mut() {
            // RFC 1421 headers (e.g. Proc-Type) only appear on encrypted keys, which are refused.
            open.body.push_str(line);
        }
    }
    if let Some(open) = current {
        return Err(truncated(blocks.len() + 1, &open.label));
    }
    Ok(blocks)
}

fn pem_marker<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    line.strip_prefix(prefix)?.strip_suffix("-----")
}

fn truncated(n: usize, label: &str) -> String {
    format!("block {n} ({label}) is truncated: it has no -----END {label}----- line")
}

fn decode_body(n: usize, body: &str) -> Result<Vec<u8>, String> {
    let looks_like_placeholder = body.contains("...")
        || body.contains('<')
        || body.contains('(')
        || body.chars().any(|c| c == ' ');
    if looks_like_placeholder {
        return Err(format!(
            "certificate {n} is a placeholder, not a certificate (its body {:?} is not \
             base64); put the PEM of the CA that signed the object store's certificate here",
            shorten(body)
        ));
    }
    STANDARD.decode(body.as_bytes()).map_err(|_| {
        format!(
            "certificate {n} is garbled: its body is not valid base64 (a line was cut or altered)"
        )
    })
}

fn certificate_info(n: usize, der: &[u8]) -> Result<CertificateInfo, String> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| {
        format!(
            "certificate {n} is not a valid X.509 certificate ({e}); it is garbled or truncated"
        )
    })?;
    if !rest.is_empty() {
        return Err(format!(
            "certificate {n} has {} stray bytes after the certificate; it is garbled",
            rest.len()
        ));
    }
    let subject = cert.subject().to_string();
    Ok(CertificateInfo {
        subject: if subject.is_empty() {
            format!("certificate {n}")
        } else {
            subject
        },
        not_after: cert.validity().not_after.timestamp(),
        is_ca: cert.is_ca(),
    })
}

fn reencode(der: &[u8]) -> Vec<u8> {
    let body = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out.into_bytes()
}

fn describe(certs: &[&CertificateInfo]) -> String {
    certs
        .iter()
        .map(|c| format!("{:?} (not after {})", c.subject, format_time(c.not_after)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn format_time(seconds: i64) -> String {
    Timestamp::from_second(seconds)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| seconds.to_string())
}

fn shorten(text: &str) -> String {
    const MAX: usize = 48;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}
