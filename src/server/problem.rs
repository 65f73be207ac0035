//! RFC 9457 problem details (`application/problem+json`) for every error the API answers.
//!
//! Handlers return [`Problem`]; it travels in the response's extensions and
//! [`super::finish`] writes the body with `instance` = the request path. Any other error
//! response (axum's own rejections: malformed JSON, wrong content type, body too large, 405)
//! is rewritten there into a problem whose `detail` is axum's text.
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:verity:problem:<slug>`, or `about:blank`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem (the HTTP reason phrase for `about:blank`).
    pub title: String,
    pub status: u16,
    /// What went wrong with this request, for a person.
    pub detail: String,
    /// The request path the problem is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Seconds to wait before retrying (429 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:verity:problem:{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            retry_after: None,
        }
    }

    /// A problem with no more specific kind than its status (`about:blank`).
    pub fn status(status: StatusCode, detail: impl Into<String>) -> Self {
        Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            retry_after: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            detail,
        )
    }

    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Upload too large",
            detail,
        )
    }

    /// The body and headers, `instance` set to `path`.
    pub fn render(mut self, path: &str) -> Response {
        if self.instance.is_none() {
            self.instance = Some(path.to_string());
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut r = (status, body).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"verity\""),
            );
        }
        r
    }
}

/// Marks a response as a problem still to be rendered by [`super::finish`].
#[derive(Clone)]
pub struct Pending(pub Problem);

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = status.into_response();
        r.extensions_mut().insert(Pending(self));
        r
    }
}

impl From<crate::Error> for Problem {
    fn from(e: crate::Error) -> Self {
        use crate::Error as E;
        let text = e.to_string();
        if crate::store::db::is_unavailable(&e) {
            return Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "Case store unavailable",
                format!("the case store cannot be reached right now; retry shortly ({text})"),
            );
        }
        match e {
            E::Input { .. } | E::Undecodable { .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "input",
                "Media cannot be used",
                text,
            ),
            E::Unsupported(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported",
                "Not supported",
                text,
            ),
            E::Config(_) => Problem::bad_request(text),
            E::TooLarge(_) => Problem::too_large(text),
            E::Weights(_) | E::Model(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "model",
                "Detector unavailable",
                text,
            ),
            _ => Problem::internal(text),
        }
    }
}

pub type ApiResult<T> = std::result::Result<T, Problem>;
