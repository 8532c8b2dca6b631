//! Why a storage operation or a location check failed: a stable name (for status conditions,
//! events and metrics) and a one-line remedy, picked from the error's whole source chain.
//!
//! Classification works on text because the useful facts are spread over several layers that
//! do not share a type: OpenSSL's verify result ("certificate has expired"), TLS alert names
//! ("alert certificate required"), hyper's connect errors, and the S3 or KMS error code.

use std::fmt;

/// A failure class with a stable name. The names never change: dashboards and alerts match them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    X509UnknownAuthority,
    X509HostnameMismatch,
    X509Expired,
    TLSClientCertificateRequired,
    TLSClientCertificateRejected,
    TLSHandshakeFailed,
    EndpointUnreachable,
    Timeout,
    CredentialsUnavailable,
    AccessDenied,
    NoSuchBucket,
    InvalidPrefixLayout,
    KmsKeyNotFound,
    KmsKeyDisabled,
    KmsAccessDenied,
    KmsKeyUnusable,
    SseCRejected,
    SseCKeyInvalid,
    EncryptionMismatch,
    ChecksumNotSupported,
    RoundTripMismatch,
    SecretNotFound,
    SecretKeyMissing,
    InvalidSecret,
    StoreError,
}

impl Reason {
    /// The stable name, e.g. `X509UnknownAuthority`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::X509UnknownAuthority => "X509UnknownAuthority",
            Reason::X509HostnameMismatch => "X509HostnameMismatch",
            Reason::X509Expired => "X509Expired",
            Reason::TLSClientCertificateRequired => "TLSClientCertificateRequired",
            Reason::TLSClientCertificateRejected => "TLSClientCertificateRejected",
            Reason::TLSHandshakeFailed => "TLSHandshakeFailed",
            Reason::EndpointUnreachable => "EndpointUnreachable",
            Reason::Timeout => "Timeout",
            Reason::CredentialsUnavailable => "CredentialsUnavailable",
            Reason::AccessDenied => "AccessDenied",
            Reason::NoSuchBucket => "NoSuchBucket",
            Reason::InvalidPrefixLayout => "InvalidPrefixLayout",
            Reason::KmsKeyNotFound => "KmsKeyNotFound",
            Reason::KmsKeyDisabled => "KmsKeyDisabled",
            Reason::KmsAccessDenied => "KmsAccessDenied",
            Reason::KmsKeyUnusable => "KmsKeyUnusable",
            Reason::SseCRejected => "SseCRejected",
            Reason::SseCKeyInvalid => "SseCKeyInvalid",
            Reason::EncryptionMismatch => "EncryptionMismatch",
            Reason::ChecksumNotSupported => "ChecksumNotSupported",
            Reason::RoundTripMismatch => "RoundTripMismatch",
            Reason::SecretNotFound => "SecretNotFound",
            Reason::SecretKeyMissing => "SecretKeyMissing",
            Reason::InvalidSecret => "InvalidSecret",
            Reason::StoreError => "StoreError",
        }
    }

    /// What to do about it, in one line.
    pub fn remedy(self) -> &'static str {
        match self {
            Reason::X509UnknownAuthority => {
                "set spec.objectStorage.caCertRef to a Secret holding the CA that signed the \
                 store's certificate (during a rotation, put the old and the new CA in one bundle)"
            }
            Reason::X509HostnameMismatch => {
                "use an s3Url whose host name (or IP address) is in the store certificate's \
                 subject alternative names, or reissue the certificate with that name"
            }
            Reason::X509Expired => {
                "renew the store's certificate (or the CA in the bundle); check the clocks of \
                 the store and of this machine"
            }
            Reason::TLSClientCertificateRequired => {
                "the store demands a client certificate (TLS alert 116): set \
                 spec.objectStorage.clientCertRef to a kubernetes.io/tls Secret the store trusts"
            }
            Reason::TLSClientCertificateRejected => {
                "the store refused the client certificate: issue the clientCertRef certificate \
                 from a CA the store trusts, and check it has not expired"
            }
            Reason::TLSHandshakeFailed => {
                "check that s3Url points at the store's HTTPS port and that it speaks TLS 1.2 \
                 or newer"
            }
            Reason::EndpointUnreachable => {
                "check s3Url's host and port, DNS, network policies and proxies between this \
                 pod and the store"
            }
            Reason::Timeout => "the store did not answer in time; check its load and the network",
            Reason::CredentialsUnavailable => {
                "set spec.credential to a Secret in AWS shared-credentials format (with the \
                 right profile), or provide environment or web-identity credentials"
            }
            Reason::AccessDenied => {
                "check the access key and secret, and grant s3:ListBucket, s3:GetObject, \
                 s3:PutObject and s3:DeleteObject on the bucket and prefix"
            }
            Reason::NoSuchBucket => {
                "create the bucket, or fix spec.objectStorage.bucket (and region or s3Url)"
            }
            Reason::InvalidPrefixLayout => {
                "point spec.objectStorage.prefix at a path holding only backups, restores, \
                 restic, metadata, plugins and kopia (an empty prefix or a fresh path works)"
            }
            Reason::KmsKeyNotFound => {
                "fix spec.config.kmsKeyId (key id, ARN or alias/NAME) or create the key or \
                 alias in the bucket's region"
            }
            Reason::KmsKeyDisabled => "enable the KMS key (or cancel its scheduled deletion)",
            Reason::KmsAccessDenied => {
                "grant kms:GenerateDataKey and kms:Decrypt (and kms:DescribeKey) on the key to \
                 the location's credentials"
            }
            Reason::KmsKeyUnusable => {
                "use a symmetric ENCRYPT_DECRYPT KMS key for S3 server-side encryption"
            }
            Reason::SseCRejected => {
                "the store refuses customer keys (SSE-C): enable SSE-C on the store or bucket, \
                 use https://, or switch to serverSideEncryption AES256 or aws:kms"
            }
            Reason::SseCKeyInvalid => {
                "the customer key must be exactly 32 raw bytes (in a Secret: the base64 of the \
                 32 bytes in data); generate one with `openssl rand 32`"
            }
            Reason::EncryptionMismatch => {
                "the store did not record the encryption asked for (e.g. MinIO without a KMS, \
                 or SSE-C ignored): configure encryption on the store, or change the location's \
                 encryption to what the store supports"
            }
            Reason::ChecksumNotSupported => {
                "the store rejects flexible checksums: set spec.config.checksumAlgorithm to \"\""
            }
            Reason::RoundTripMismatch => {
                "the object read back differs from what was written: check proxies, gateways \
                 and the store's checksum handling (try checksumAlgorithm \"\")"
            }
            Reason::SecretNotFound => {
                "create the Secret named by the location in the location's namespace"
            }
            Reason::SecretKeyMissing => "add the named key to the Secret's data",
            Reason::InvalidSecret => "fix the Secret's content as the message says",
            Reason::StoreError => "see the message; the store answered with an unexpected error",
        }
    }

    /// The status condition a failure with this reason belongs to.
    pub fn condition(self) -> &'static str {
        match self {
            Reason::X509UnknownAuthority
            | Reason::X509HostnameMismatch
            | Reason::X509Expired
            | Reason::TLSClientCertificateRequired
            | Reason::TLSClientCertificateRejected
            | Reason::TLSHandshakeFailed
            | Reason::EndpointUnreachable
            | Reason::Timeout => "TLSVerified",
            Reason::CredentialsUnavailable | Reason::AccessDenied => "Authenticated",
            Reason::NoSuchBucket | Reason::InvalidPrefixLayout | Reason::StoreError => {
                "BucketAccessible"
            }
            Reason::SecretNotFound | Reason::SecretKeyMissing | Reason::InvalidSecret => {
                "SecretsResolved"
            }
            _ => "EncryptionVerified",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every message in an error's source chain, joined with `: `, with repeats dropped (layers
/// often repeat their inner error's text).
pub fn chain_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Classify a transport-level failure (connect, TLS) from its chain text.
pub fn classify_transport(text: &str) -> Option<Reason> {
    let t = text.to_ascii_lowercase();
    let has = |needle: &str| t.contains(needle);
    // Alerts first: when the server refuses us, OpenSSL reports the alert, not a verify result.
    if has("alert certificate required") || has("alert number 116") {
        return Some(Reason::TLSClientCertificateRequired);
    }
    if has("alert unknown ca")
        || has("alert bad certificate")
        || has("alert certificate unknown")
        || has("alert certificate expired")
        || has("alert handshake failure") && has("certificate")
    {
        return Some(Reason::TLSClientCertificateRejected);
    }
    if has("hostname mismatch") || has("ip address mismatch") || has("host name mismatch") {
        return Some(Reason::X509HostnameMismatch);
    }
    if has("certificate has expired") || has("certificate is not yet valid") {
        return Some(Reason::X509Expired);
    }
    if has("unable to get local issuer certificate")
        || has("self-signed certificate")
        || has("self signed certificate")
        || has("unable to get issuer certificate")
        || has("unable to verify the first certificate")
        || has("certificate signature failure")
    {
        return Some(Reason::X509UnknownAuthority);
    }
    if has("certificate verify failed") {
        return Some(Reason::X509UnknownAuthority);
    }
    if has("connection refused")
        || has("dns error")
        || has("failed to lookup address")
        || has("no route to host")
        || has("network is unreachable")
        || has("name or service not known")
    {
        return Some(Reason::EndpointUnreachable);
    }
    if has("timed out") || has("timeout") {
        return Some(Reason::Timeout);
    }
    if has("ssl routines")
        || has("wrong version number")
        || has("handshake")
        || has("tls")
        || has("unexpected eof")
    {
        return Some(Reason::TLSHandshakeFailed);
    }
    if has("connection reset") || has("broken pipe") || has("error trying to connect") {
        return Some(Reason::EndpointUnreachable);
    }
    None
}

/// Classify an S3 or KMS error code (and message) returned by the service.
pub fn classify_service(code: &str, message: &str, status: Option<u16>) -> Reason {
    let m = message.to_ascii_lowercase();
    let mentions_checksum = m.contains("checksum")
        || m.contains("x-amz-content-sha256")
        || m.contains("aws-chunked")
        || m.contains("trailer");
    match code {
        "NoSuchBucket" => Reason::NoSuchBucket,
        "AccessDenied"
        | "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "AllAccessDisabled"
        | "ExpiredToken"
        | "InvalidToken"
        | "AccountProblem" => Reason::AccessDenied,
        "NotFoundException" => Reason::KmsKeyNotFound,
        "DisabledException" | "KMSInvalidStateException" | "KMS.DisabledException" => {
            Reason::KmsKeyDisabled
        }
        "KMS.NotFoundException" => Reason::KmsKeyNotFound,
        "AccessDeniedException" | "KMS.AccessDeniedException" => Reason::KmsAccessDenied,
        "InvalidKeyUsageException" | "KMS.InvalidKeyUsageException" => Reason::KmsKeyUnusable,
        "XAmzContentSHA256Mismatch" | "BadDigest" | "InvalidDigest" => Reason::ChecksumNotSupported,
        "NotImplemented" | "InvalidArgument" | "InvalidRequest" if mentions_checksum => {
            Reason::ChecksumNotSupported
        }
        "NotImplemented"
        | "InvalidArgument"
        | "InvalidRequest"
        | "InvalidEncryptionAlgorithmError"
            if m.contains("customer") || m.contains("sse-c") || m.contains("encryption") =>
        {
            if m.contains("customer") || m.contains("sse-c") {
                Reason::SseCRejected
            } else {
                Reason::EncryptionMismatch
            }
        }
        _ => match status {
            Some(403) => Reason::AccessDenied,
            Some(404) if code.is_empty() => Reason::NoSuchBucket,
            _ => Reason::StoreError,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_texts_map_to_reasons() {
        let cases = [
            (
                "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:ssl/statem/statem_clnt.c:1889: (unable to get local issuer certificate)",
                Reason::X509UnknownAuthority,
            ),
            (
                "certificate verify failed (Hostname mismatch)",
                Reason::X509HostnameMismatch,
            ),
            (
                "certificate verify failed (certificate has expired)",
                Reason::X509Expired,
            ),
            (
                "ssl3_read_bytes:tlsv13 alert certificate required",
                Reason::TLSClientCertificateRequired,
            ),
            (
                "ssl3_read_bytes:tlsv1 alert unknown ca",
                Reason::TLSClientCertificateRejected,
            ),
            (
                "tcp connect error: Connection refused (os error 111)",
                Reason::EndpointUnreachable,
            ),
            (
                "ssl3_get_record:wrong version number",
                Reason::TLSHandshakeFailed,
            ),
        ];
        for (text, reason) in cases {
            assert_eq!(classify_transport(text), Some(reason), "{text}");
        }
    }

    #[test]
    fn service_codes_map_to_reasons() {
        assert_eq!(
            classify_service("NoSuchBucket", "", Some(404)),
            Reason::NoSuchBucket
        );
        assert_eq!(classify_service("", "", Some(403)), Reason::AccessDenied);
        assert_eq!(
            classify_service("NotFoundException", "Alias x is not found", Some(400)),
            Reason::KmsKeyNotFound
        );
        assert_eq!(
            classify_service(
                "InvalidRequest",
                "x-amz-checksum-crc32 is not supported",
                Some(400)
            ),
            Reason::ChecksumNotSupported
        );
        assert_eq!(
            classify_service(
                "NotImplemented",
                "customer provided keys are not supported",
                Some(501)
            ),
            Reason::SseCRejected
        );
    }
}
