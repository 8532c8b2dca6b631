//! `Status` errors worded as the real API server words them: kubectl and kube-rs key on `reason`
//! and `code`, and people read `message`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::resources::ResourceInfo;

/// An API error, rendered as a `metav1.Status`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason} ({code}): {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, info: &ResourceInfo, name: &str) -> Self {
        self.details = Some(json!({"name": name, "group": info.group, "kind": info.plural}));
        self
    }

    pub fn not_found(info: &ResourceInfo, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", info.qualified_plural()),
        )
        .with_details(info, name)
    }

    pub fn already_exists(info: &ResourceInfo, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", info.qualified_plural()),
        )
        .with_details(info, name)
    }

    pub fn conflict(info: &ResourceInfo, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                info.qualified_plural()
            ),
        )
        .with_details(info, name)
    }

    /// 422 with one cause per field error, e.g. `spec.provider: Required value`.
    pub fn invalid(info: &ResourceInfo, name: &str, causes: &[FieldError]) -> Self {
        let list: Vec<String> = causes.iter().map(FieldError::to_string).collect();
        let joined = if list.len() == 1 {
            list[0].clone()
        } else {
            format!("[{}]", list.join(", "))
        };
        let mut err = Self::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {joined}", info.qualified_kind()),
        );
        err.details = Some(json!({
            "name": name, "group": info.group, "kind": info.kind,
            "causes": causes.iter().map(|c| json!({
                "reason": c.reason_type(), "message": c.detail_message(), "field": c.field,
            })).collect::<Vec<_>>(),
        }));
        err
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type:?})"
            ),
        )
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    pub fn page_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// The `metav1.Status` body.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            code,
            [("content-type", "application/json")],
            self.to_status().to_string(),
        )
            .into_response()
    }
}

/// One field error, in the shapes `k8s.io/apimachinery/pkg/util/validation/field` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub kind: FieldErrorKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldErrorKind {
    Required,
    /// value shown, detail
    Invalid(String, String),
    /// value shown, supported values
    NotSupported(String, Vec<String>),
    /// the field is not declared in the schema (strict field validation)
    Unknown,
}

impl FieldError {
    pub fn required(field: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::Required,
        }
    }
    pub fn invalid(field: impl Into<String>, value: &Value, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::Invalid(show(value), detail.into()),
        }
    }

    fn reason_type(&self) -> &'static str {
        match self.kind {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid(..) => "FieldValueInvalid",
            FieldErrorKind::NotSupported(..) => "FieldValueNotSupported",
            FieldErrorKind::Unknown => "FieldValueInvalid",
        }
    }

    fn detail_message(&self) -> String {
        let full = self.to_string();
        full.strip_prefix(&format!("{}: ", self.field))
            .unwrap_or(&full)
            .to_string()
    }
}

/// Values print as Go's `%#v` would for JSON values: strings quoted, others bare.
pub fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Object(_) => "\"object\"".into(),
        Value::Array(_) => "\"array\"".into(),
        other => other.to_string(),
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            FieldErrorKind::Required => write!(f, "{}: Required value", self.field),
            FieldErrorKind::Invalid(v, d) => write!(f, "{}: Invalid value: {v}: {d}", self.field),
            FieldErrorKind::NotSupported(v, allowed) => write!(
                f,
                "{}: Unsupported value: {v}: supported values: {}",
                self.field,
                allowed.join(", ")
            ),
            FieldErrorKind::Unknown => write!(f, ".{}: field not declared in schema", self.field),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_read_like_the_real_server() {
        let e = FieldError::required("spec.provider");
        assert_eq!(e.to_string(), "spec.provider: Required value");
        let e = FieldError {
            field: "spec.accessMode".into(),
            kind: FieldErrorKind::NotSupported(
                "\"Foo\"".into(),
                vec!["\"ReadOnly\"".into(), "\"ReadWrite\"".into()],
            ),
        };
        assert_eq!(
            e.to_string(),
            "spec.accessMode: Unsupported value: \"Foo\": supported values: \"ReadOnly\", \"ReadWrite\""
        );
    }
}
