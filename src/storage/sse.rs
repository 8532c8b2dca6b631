//! The location's one encryption mode, as S3 request fields, and the check of what the store
//! recorded. Which operation carries which header follows the S3 API:
//! - SSE-S3 and SSE-KMS: PutObject and CreateMultipartUpload (parts inherit them);
//! - SSE-C: every request that writes or reads object data or metadata (PutObject,
//!   CreateMultipartUpload, UploadPart, CompleteMultipartUpload, GetObject, HeadObject).

use aws_sdk_s3::types::ServerSideEncryption;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::secrets::{CustomerKey, Redacted};
use crate::location::Encryption;

/// The request fields for one encryption mode, computed once per store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sse {
    None,
    S3,
    Kms {
        key_id: String,
        bucket_key: bool,
    },
    /// SSE-C: algorithm `AES256`, the key in base64, and the base64 MD5 of the raw key.
    C {
        key_b64: Redacted<String>,
        key_md5_b64: String,
    },
}

/// The SSE-C algorithm, the only one S3 defines.
pub const SSE_C_ALGORITHM: &str = "AES256";

impl Sse {
    /// `customer_key` must be present for SSE-C; resolution guarantees it.
    pub fn new(encryption: &Encryption, customer_key: Option<&CustomerKey>) -> Option<Sse> {
        Some(match encryption {
            Encryption::None => Sse::None,
            Encryption::SseS3 => Sse::S3,
            Encryption::SseKms { key_id, bucket_key } => Sse::Kms {
                key_id: key_id.clone(),
                bucket_key: *bucket_key,
            },
            Encryption::SseC(_) => {
                let key = customer_key?;
                let md5 = openssl::hash::hash(openssl::hash::MessageDigest::md5(), &key.0)
                    .expect("MD5 is available in OpenSSL");
                Sse::C {
                    key_b64: Redacted(STANDARD.encode(key.0)),
                    key_md5_b64: STANDARD.encode(md5),
                }
            }
        })
    }

    /// The SSE-C trio `(algorithm, key, key MD5)`, when SSE-C applies.
    pub fn customer(&self) -> Option<(&'static str, &str, &str)> {
        match self {
            Sse::C {
                key_b64,
                key_md5_b64,
            } => Some((SSE_C_ALGORITHM, &key_b64.0, key_md5_b64)),
            _ => None,
        }
    }

    /// `(x-amz-server-side-encryption, kms key id, bucket key)` for object-creating requests.
    pub fn server_side(&self) -> Option<(ServerSideEncryption, Option<&str>, Option<bool>)> {
        match self {
            Sse::S3 => Some((ServerSideEncryption::Aes256, None, None)),
            Sse::Kms { key_id, bucket_key } => Some((
                ServerSideEncryption::AwsKms,
                Some(key_id),
                bucket_key.then_some(true),
            )),
            _ => None,
        }
    }

    /// Compare what a HEAD returned with what was asked. `kms_key_arn` is the ARN the
    /// configured key id or alias resolves to, when known (stores report either).
    pub fn verify(&self, recorded: &Recorded, kms_key_arn: Option<&str>) -> Result<(), String> {
        match self {
            Sse::None => Ok(()),
            Sse::S3 => match recorded.algorithm.as_deref() {
                Some("AES256") => Ok(()),
                other => Err(format!(
                    "asked for SSE-S3 (AES256) but the store recorded {}",
                    describe(other)
                )),
            },
            Sse::Kms { key_id, bucket_key } => {
                if recorded.algorithm.as_deref() != Some("aws:kms") {
                    return Err(format!(
                        "asked for SSE-KMS (aws:kms) but the store recorded {}",
                        describe(recorded.algorithm.as_deref())
                    ));
                }
                let Some(got) = recorded.kms_key_id.as_deref() else {
                    return Err("asked for SSE-KMS but the store recorded no KMS key id".into());
                };
                if !kms_key_matches(key_id, got, kms_key_arn) {
                    return Err(format!(
                        "asked for KMS key {key_id:?} but the store used {got:?}"
                    ));
                }
                if *bucket_key && recorded.bucket_key != Some(true) {
                    return Err(
                        "asked for an S3 Bucket Key (bucketKeyEnabled) but the store did not \
                         record one"
                            .into(),
                    );
                }
                Ok(())
            }
            Sse::C { key_md5_b64, .. } => {
                if recorded.customer_algorithm.as_deref() != Some(SSE_C_ALGORITHM) {
                    return Err(
                        "asked for SSE-C but the store did not confirm a customer key on HEAD \
                         (it ignored the x-amz-server-side-encryption-customer-* headers)"
                            .into(),
                    );
                }
                if recorded.customer_key_md5.as_deref() != Some(key_md5_b64.as_str()) {
                    return Err("the store confirmed SSE-C with a different customer key".into());
                }
                Ok(())
            }
        }
    }
}

/// What a HEAD says the store recorded about an object's encryption.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    pub algorithm: Option<String>,
    pub kms_key_id: Option<String>,
    pub bucket_key: Option<bool>,
    pub customer_algorithm: Option<String>,
    pub customer_key_md5: Option<String>,
}

impl Recorded {
    pub fn from_head(head: &aws_sdk_s3::operation::head_object::HeadObjectOutput) -> Self {
        Recorded {
            algorithm: head.server_side_encryption().map(|s| s.as_str().to_owned()),
            kms_key_id: head.ssekms_key_id().map(str::to_owned),
            bucket_key: head.bucket_key_enabled(),
            customer_algorithm: head.sse_customer_algorithm().map(str::to_owned),
            customer_key_md5: head.sse_customer_key_md5().map(str::to_owned),
        }
    }

    /// A short description for reports, e.g. `aws:kms (key alias/x, bucket key)`.
    pub fn summary(&self) -> String {
        if self.customer_algorithm.is_some() {
            return "SSE-C (AES256, customer key confirmed)".into();
        }
        let mut s = describe(self.algorithm.as_deref());
        if let Some(k) = &self.kms_key_id {
            s.push_str(&format!(", key {k}"));
        }
        if self.bucket_key == Some(true) {
            s.push_str(", bucket key");
        }
        s
    }
}

fn describe(algorithm: Option<&str>) -> String {
    algorithm.map_or_else(|| "no encryption".to_owned(), str::to_owned)
}

/// A key id, ARN or alias matches what a store reports: the same text, the key id at the end of
/// a key ARN, or the ARN an alias resolves to.
fn kms_key_matches(asked: &str, got: &str, resolved_arn: Option<&str>) -> bool {
    if asked == got || resolved_arn == Some(got) {
        return true;
    }
    let id_of = |s: &str| s.rsplit_once(":key/").map(|(_, id)| id.to_owned());
    let asked_id = id_of(asked).unwrap_or_else(|| asked.to_owned());
    let got_id = id_of(got).unwrap_or_else(|| got.to_owned());
    asked_id == got_id || resolved_arn.and_then(id_of).is_some_and(|id| id == got_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_keys_match_by_id_arn_or_alias() {
        let arn = "arn:aws:kms:us-east-1:1:key/abcd";
        assert!(kms_key_matches("abcd", arn, None));
        assert!(kms_key_matches(arn, "abcd", None));
        assert!(kms_key_matches("alias/x", arn, Some(arn)));
        assert!(kms_key_matches("alias/x", "abcd", Some(arn)));
        assert!(!kms_key_matches("alias/x", "efgh", Some(arn)));
    }

    #[test]
    fn sse_c_md5_is_of_the_raw_key() {
        let key = CustomerKey::from_bytes("t", &[0u8; 32]).unwrap();
        let sse = Sse::new(
            &Encryption::SseC(crate::location::CustomerKeySource::File("k".into())),
            Some(&key),
        )
        .unwrap();
        let (alg, key_b64, md5) = sse.customer().unwrap();
        assert_eq!(alg, "AES256");
        assert_eq!(key_b64, STANDARD.encode([0u8; 32]));
        // md5 of 32 zero bytes
        assert_eq!(md5, "cLyPS3KoaSFGi/joRB3OUQ==");
        assert!(!format!("{sse:?}").contains(key_b64));
    }

    #[test]
    fn a_store_that_ignores_headers_is_a_mismatch() {
        let sse = Sse::Kms {
            key_id: "alias/x".into(),
            bucket_key: true,
        };
        let err = sse.verify(&Recorded::default(), None).unwrap_err();
        assert!(err.contains("no encryption"), "{err}");
        let recorded = Recorded {
            algorithm: Some("aws:kms".into()),
            kms_key_id: Some("alias/x".into()),
            ..Default::default()
        };
        assert!(
            sse.verify(&recorded, None)
                .unwrap_err()
                .contains("Bucket Key")
        );
    }
}
