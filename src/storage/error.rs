//! The storage layer's error: what failed, its [`Reason`], and a message free of secrets.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use super::reason::{Reason, chain_text, classify_service, classify_transport};
use super::secrets::SecretError;
use super::tls::TlsSetupError;

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store (S3 or KMS) or the connection to it failed.
    #[error("{operation} {target}: {message}")]
    Store {
        operation: &'static str,
        target: String,
        reason: Reason,
        message: String,
        /// The HTTP status the store answered with; `None` when no answer came.
        status: Option<u16>,
    },
    /// The store did not record the encryption that was asked for.
    #[error("{target}: {message}")]
    EncryptionMismatch { target: String, message: String },
    /// The object read back is not the object written.
    #[error("{target}: {message}")]
    RoundTrip { target: String, message: String },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    TlsSetup(#[from] TlsSetupError),
    /// Reading the body to upload failed (the caller's stream, not the store).
    #[error("reading the data to upload failed: {0}")]
    Body(String),
    #[error("{0}")]
    Config(String),
}

impl StorageError {
    /// The stable reason for status, events and metrics.
    pub fn reason(&self) -> Reason {
        match self {
            StorageError::Store { reason, .. } => *reason,
            StorageError::EncryptionMismatch { .. } => Reason::EncryptionMismatch,
            StorageError::RoundTrip { .. } => Reason::RoundTripMismatch,
            StorageError::Secret(e) => e.reason(),
            StorageError::TlsSetup(_) => Reason::InvalidSecret,
            StorageError::Body(_) | StorageError::Config(_) => Reason::StoreError,
        }
    }

    /// Classify an SDK error by the service's error code, else by the transport failure.
    pub fn from_sdk<E>(
        operation: &'static str,
        target: impl Into<String>,
        err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let target = target.into();
        let (reason, message, status) = match &err {
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("");
                let text = service.err().message().unwrap_or("");
                let status = service.raw().status().as_u16();
                let reason = classify_service(code, text, Some(status));
                let message = match (code, text) {
                    ("", "") => format!("HTTP {status}"),
                    (c, "") => format!("{c} (HTTP {status})"),
                    ("", t) => format!("{t} (HTTP {status})"),
                    (c, t) => format!("{c}: {t} (HTTP {status})"),
                };
                (reason, message, Some(status))
            }
            other => {
                let text = chain_text(other);
                let reason = classify_transport(&text).unwrap_or(Reason::StoreError);
                (reason, text, None)
            }
        };
        StorageError::Store {
            operation,
            target,
            reason,
            message,
            status,
        }
    }

    /// A request the store never answered in time (or answered with nothing usable).
    pub(super) fn unanswered(
        operation: &'static str,
        target: impl Into<String>,
        message: impl Into<String>,
    ) -> StorageError {
        StorageError::Store {
            operation,
            target: target.into(),
            reason: Reason::StoreError,
            message: message.into(),
            status: None,
        }
    }

    /// The HTTP status the store answered with; `None` when no answer came (or the error is
    /// not the store's).
    pub fn status(&self) -> Option<u16> {
        match self {
            StorageError::Store { status, .. } => *status,
            _ => None,
        }
    }

    /// Whether the store answered 404 (no such key, upload or bucket).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            StorageError::Store {
                status: Some(404),
                ..
            }
        )
    }
}
