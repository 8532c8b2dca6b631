//! `spec.config`: the provider keys Velero's AWS plugin reads, plus `bucketKeyEnabled`.
//!
//! Velero's API server takes any key; its AWS plugin refuses unknown ones only when the location
//! is validated, so a typo such as `kmsKeyID` is found as an `Unavailable` location after the
//! apply. Here every key is known at apply time, and anything else is refused with the list of
//! valid keys (and a suggestion when it is a near miss).

use std::collections::BTreeMap;
use std::path::PathBuf;

use url::Url;

use super::findings::Findings;
use super::model::{Checksum, CustomerKeySource, Encryption, Endpoint, SecretKeyRef};

/// Keys veloxide acts on.
const KEYS: &[&str] = &[
    "region",
    "s3Url",
    "publicUrl",
    "s3ForcePathStyle",
    "insecureSkipTLSVerify",
    "profile",
    "credentialsFile",
    "serverSideEncryption",
    "kmsKeyId",
    "bucketKeyEnabled",
    "customerKeyEncryptionFile",
    "customerKeyEncryptionSecret",
    "checksumAlgorithm",
    "tagging",
];

/// Keys Velero's plugin accepts but ignores; accepted with a warning so Velero manifests apply.
const IGNORED_KEYS: &[&str] = &["signatureVersion", "enableSharedConfig"];

/// Said whenever `bucketKeyEnabled` is present, whatever its value: Velero's AWS plugin refuses
/// config keys it does not know (`ValidateObjectStoreConfigKeys`), so the same manifest applied
/// to a Velero cluster gives a location that never becomes Available.
const BUCKET_KEY_NOT_PORTABLE: &str = "spec.config.bucketKeyEnabled is veloxide's own key: \
     Velero's AWS plugin refuses config keys it does not know, so this location is not portable \
     to Velero (there it stays Unavailable with \"config has invalid keys [bucketKeyEnabled]\"); \
     to share the manifest with Velero, remove the key and turn S3 Bucket Keys on in the \
     bucket's default encryption instead (objects written with SSE-KMS inherit it)";

/// Keys that belong elsewhere in the spec, with where.
const MISPLACED_KEYS: &[(&str, &str)] = &[
    ("bucket", "spec.objectStorage.bucket"),
    ("prefix", "spec.objectStorage.prefix"),
    (
        "caCert",
        "spec.objectStorage.caCertRef (a Secret holding the PEM)",
    ),
    ("caCertRef", "spec.objectStorage.caCertRef"),
    ("clientCertRef", "spec.objectStorage.clientCertRef"),
    ("credential", "spec.credential"),
    ("default", "spec.default"),
    ("accessMode", "spec.accessMode"),
    ("validationFrequency", "spec.validationFrequency"),
    ("backupSyncPeriod", "spec.backupSyncPeriod"),
    ("provider", "spec.provider"),
];

/// The parsed provider keys. Fields refused by a rule hold their defaults; the caller
/// only uses this value when there were no violations.
pub(super) struct ConfigKeys {
    pub endpoint: Endpoint,
    pub insecure_skip_tls_verify: bool,
    pub encryption: Encryption,
    pub checksum: Checksum,
    pub tagging: Option<String>,
    pub profile: Option<String>,
    pub credentials_file: Option<PathBuf>,
}

pub(super) fn parse(config: Option<&BTreeMap<String, String>>, f: &mut Findings) -> ConfigKeys {
    let empty = BTreeMap::new();
    let config = config.unwrap_or(&empty);
    check_key_names(config, f);
    // An empty value means "not set", as in Velero, except for checksumAlgorithm below.
    let get = |key: &str| config.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());

    let s3_url = get("s3Url").and_then(|v| parse_url("s3Url", v, f));
    let public_url = get("publicUrl").and_then(|v| parse_url("publicUrl", v, f));
    let region = get("region").map(str::to_owned);
    if let Some(r) = &region
        && r.chars().any(|c| c.is_whitespace() || c == '/')
    {
        f.deny(
            "spec.config.region",
            format!("{r:?} is not a region name; write it like \"us-east-1\""),
        );
    }
    let force_path_style = get_bool("s3ForcePathStyle", get("s3ForcePathStyle"), f);
    let insecure = get_bool("insecureSkipTLSVerify", get("insecureSkipTLSVerify"), f);
    if insecure {
        f.warn(
            "spec.config.insecureSkipTLSVerify is true: the object store's certificate is not \
             checked, so anyone able to intercept the connection can read and alter backups \
             (man-in-the-middle); trust the store's CA with caCertRef instead",
        );
    }
    let encryption = parse_encryption(&get, s3_url.as_ref(), f);
    let checksum = parse_checksum(config.get("checksumAlgorithm").map(|v| v.trim()), f);
    let tagging = get("tagging").and_then(|v| check_tags(v, f).then(|| v.to_owned()));
    if config.contains_key("bucketKeyEnabled") {
        f.warn(BUCKET_KEY_NOT_PORTABLE);
    }
    for key in IGNORED_KEYS {
        if config.contains_key(*key) {
            f.warn(format!(
                "spec.config.{key} is accepted for compatibility with Velero but has no effect"
            ));
        }
    }
    ConfigKeys {
        endpoint: Endpoint {
            s3_url,
            region,
            force_path_style,
            public_url,
        },
        insecure_skip_tls_verify: insecure,
        encryption,
        checksum,
        tagging,
        profile: get("profile").map(str::to_owned),
        credentials_file: get("credentialsFile").map(PathBuf::from),
    }
}

fn check_key_names(config: &BTreeMap<String, String>, f: &mut Findings) {
    for key in config.keys() {
        if KEYS.contains(&key.as_str()) || IGNORED_KEYS.contains(&key.as_str()) {
            continue;
        }
        let field = format!("spec.config.{key}");
        if let Some((_, home)) = MISPLACED_KEYS.iter().find(|(k, _)| k == key) {
            f.deny(
                field,
                format!("does not belong in config; set {home} instead"),
            );
        } else if let Some(near) = KEYS
            .iter()
            .chain(IGNORED_KEYS)
            .find(|k| k.eq_ignore_ascii_case(key))
        {
            f.deny(
                field,
                format!("is not a known key; did you mean {near:?}? (keys are case-sensitive)"),
            );
        } else {
            f.deny(
                field,
                format!("is not a known key; valid keys are: {}", KEYS.join(", ")),
            );
        }
    }
}

fn parse_url(key: &str, value: &str, f: &mut Findings) -> Option<Url> {
    let field = format!("spec.config.{key}");
    match Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url),
        Ok(_) | Err(_) => {
            f.deny(
                field,
                format!(
                    "{value:?} is not a valid endpoint URL; write it as https://host[:port] \
                     (or http:// for a store without TLS)"
                ),
            );
            None
        }
    }
}

/// Booleans are `true`/`false` in any case; Go's `ParseBool` spellings (`1`, `0`, `t`, `f`)
/// are accepted too, so values written for Velero keep working.
fn get_bool(key: &str, value: Option<&str>, f: &mut Findings) -> bool {
    let Some(value) = value else { return false };
    match value.to_ascii_lowercase().as_str() {
        "true" | "t" | "1" => true,
        "false" | "f" | "0" => false,
        _ => {
            f.deny(
                format!("spec.config.{key}"),
                format!("{value:?} is not a boolean; write \"true\" or \"false\""),
            );
            false
        }
    }
}

fn parse_encryption<'a>(
    get: &dyn Fn(&str) -> Option<&'a str>,
    s3_url: Option<&Url>,
    f: &mut Findings,
) -> Encryption {
    let sse = get("serverSideEncryption");
    let kms_key = get("kmsKeyId");
    let key_file = get("customerKeyEncryptionFile");
    let key_secret = get("customerKeyEncryptionSecret");
    let bucket_key = get_bool("bucketKeyEnabled", get("bucketKeyEnabled"), f);

    let modes = [
        ("kmsKeyId", kms_key),
        ("customerKeyEncryptionFile", key_file),
        ("customerKeyEncryptionSecret", key_secret),
    ];
    if !one_key_at_most(&modes, f) || !known_sse(sse, f) {
        return Encryption::None;
    }

    let customer_key = key_file
        .map(|p| CustomerKeySource::File(PathBuf::from(p)))
        .or_else(|| key_secret.and_then(|v| parse_key_secret(v, f).map(CustomerKeySource::Secret)));
    let encryption = match (sse, kms_key, customer_key) {
        (Some("aws:kms"), None, None) => {
            f.deny(
                "spec.config.kmsKeyId",
                "is required when serverSideEncryption is \"aws:kms\"; set it to the KMS key \
                 id, ARN or alias (e.g. alias/velero-backups)",
            );
            return Encryption::None;
        }
        (Some("AES256"), Some(_), _) => {
            f.deny(
                "spec.config.kmsKeyId",
                "is set with serverSideEncryption \"AES256\" (SSE-S3, which uses no KMS key); \
                 set serverSideEncryption to \"aws:kms\" or remove kmsKeyId",
            );
            return Encryption::None;
        }
        (Some(_), None, Some(_)) => {
            f.deny(
                "spec.config.serverSideEncryption",
                "cannot be combined with a customer key (SSE-C); remove serverSideEncryption, \
                 the customer key alone selects SSE-C",
            );
            return Encryption::None;
        }
        (_, Some(key_id), _) => Encryption::SseKms {
            key_id: key_id.to_owned(),
            bucket_key,
        },
        (None, None, Some(source)) => Encryption::SseC(source),
        (Some("AES256"), None, None) => Encryption::SseS3,
        _ => Encryption::None,
    };

    if bucket_key && !matches!(encryption, Encryption::SseKms { .. }) {
        f.deny(
            "spec.config.bucketKeyEnabled",
            "applies only to SSE-KMS; set serverSideEncryption \"aws:kms\" with kmsKeyId, or \
             remove bucketKeyEnabled",
        );
    }
    if matches!(encryption, Encryption::SseC(_)) && s3_url.is_some_and(|u| u.scheme() == "http") {
        f.deny(
            "spec.config.s3Url",
            "uses plain http://, but S3 accepts customer keys (SSE-C) only over HTTPS; use an \
             https:// endpoint",
        );
    }
    encryption
}

/// At most one of the keys that choose SSE-KMS or SSE-C is set.
fn one_key_at_most(modes: &[(&str, Option<&str>)], f: &mut Findings) -> bool {
    let set: Vec<&str> = modes.iter().filter_map(|(k, v)| v.map(|_| *k)).collect();
    if set.len() > 1 {
        f.deny(
            "spec.config",
            format!(
                "{} are all set; use only one of kmsKeyId (SSE-KMS), customerKeyEncryptionFile \
                 or customerKeyEncryptionSecret (SSE-C)",
                set.join(" and ")
            ),
        );
        return false;
    }
    true
}

/// `serverSideEncryption` is absent or one of S3's two values (a near miss gets a hint).
fn known_sse(sse: Option<&str>, f: &mut Findings) -> bool {
    match sse {
        None | Some("AES256") | Some("aws:kms") => true,
        Some(other) => {
            let hint = ["AES256", "aws:kms"]
                .iter()
                .find(|v| v.eq_ignore_ascii_case(other))
                .map(|v| format!(" (did you mean {v:?}?)"))
                .unwrap_or_default();
            f.deny(
                "spec.config.serverSideEncryption",
                format!(
                    "{other:?} is not supported{hint}; use \"AES256\" (SSE-S3) or \"aws:kms\" \
                     (SSE-KMS, with kmsKeyId)"
                ),
            );
            false
        }
    }
}

fn parse_key_secret(value: &str, f: &mut Findings) -> Option<SecretKeyRef> {
    match value.split_once('/') {
        Some((name, key)) if !name.is_empty() && !key.is_empty() && !key.contains('/') => {
            Some(SecretKeyRef {
                name: name.to_owned(),
                key: key.to_owned(),
            })
        }
        _ => {
            f.deny(
                "spec.config.customerKeyEncryptionSecret",
                format!(
                    "{value:?} must be \"secretName/key\": the Secret (in the location's \
                     namespace) and the key holding the 32-byte customer key"
                ),
            );
            None
        }
    }
}

fn parse_checksum(value: Option<&str>, f: &mut Findings) -> Checksum {
    let Some(value) = value else {
        return Checksum::DEFAULT;
    };
    if value.is_empty() {
        return Checksum::Disabled;
    }
    if let Some((_, c)) = Checksum::NAMES.iter().find(|(n, _)| *n == value) {
        return *c;
    }
    let names: Vec<&str> = Checksum::NAMES.iter().map(|(n, _)| *n).collect();
    f.deny(
        "spec.config.checksumAlgorithm",
        format!(
            "{value:?} is not supported; use one of {}, or \"\" to turn flexible checksums off \
             (some S3-compatible stores reject them)",
            names.join(", ")
        ),
    );
    Checksum::DEFAULT
}

/// S3's object-tag limits: at most 10 tags, keys up to 128 and values up to 256 characters.
fn check_tags(value: &str, f: &mut Findings) -> bool {
    let field = "spec.config.tagging";
    let tags: Vec<&str> = value.split('&').collect();
    if tags.len() > 10 {
        f.deny(
            field,
            format!("has {} tags; S3 allows at most 10 per object", tags.len()),
        );
        return false;
    }
    for tag in tags {
        let Some((key, val)) = tag.split_once('=') else {
            f.deny(
                field,
                format!("{tag:?} is not key=value; write tags as k1=v1&k2=v2"),
            );
            return false;
        };
        if key.is_empty() || key.chars().count() > 128 || val.chars().count() > 256 {
            f.deny(
                field,
                format!("{tag:?}: tag keys must be 1 to 128 characters and values at most 256"),
            );
            return false;
        }
    }
    true
}
