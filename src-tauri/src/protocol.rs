//! The `verity:` URI scheme: the webview loads stored pictures (face crops, a case's still image)
//! as plain image requests instead of base64 `data:` URLs inside JSON. The page builds the URL
//! (`verity://localhost/face/<case>/<face>`; `http://verity.localhost/…` on Windows, as Tauri
//! maps custom schemes there) and the bytes come straight from the content store, read-only.
//! Only these two routes exist; nothing outside the store can be named.
use crate::state::AppState;
use std::borrow::Cow;
use tauri::http::{header, Response, StatusCode};

/// The scheme name registered with Tauri (and allowed by the CSP's `img-src`).
pub const SCHEME: &str = "verity";

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The gallery picture of face `face` of case `case`.
    Face { case: i64, face: i64 },
    /// The still image of case `case` (images only; videos are served frame by frame by the
    /// player).
    Media { case: i64 },
}

/// Parses a request path: `/face/3/17`, `/media/3` (percent-encoded slashes too, as
/// `convertFileSrc` writes them).
pub fn route(path: &str) -> Option<Route> {
    let path = path.replace("%2F", "/").replace("%2f", "/");
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let id = |s: &str| s.parse::<i64>().ok().filter(|v| *v > 0);
    match parts.as_slice() {
        ["face", case, face] => Some(Route::Face {
            case: id(case)?,
            face: id(face)?,
        }),
        ["media", case] => Some(Route::Media { case: id(case)? }),
        _ => None,
    }
}

/// The content type of stored picture bytes, from their magic bytes.
fn mime(bytes: &[u8]) -> &'static str {
    match image::guess_format(bytes) {
        Ok(image::ImageFormat::Jpeg) => "image/jpeg",
        Ok(image::ImageFormat::WebP) => "image/webp",
        Ok(image::ImageFormat::Bmp) => "image/bmp",
        Ok(image::ImageFormat::Tiff) => "image/tiff",
        _ => "image/png",
    }
}

fn plain(status: StatusCode, text: String) -> Response<Cow<'static, [u8]>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Cow::Owned(text.into_bytes()))
        .unwrap_or_else(|_| Response::new(Cow::Borrowed(&[][..])))
}

/// Answers one request from the store the app has open.
pub fn respond(state: &AppState, path: &str) -> Response<Cow<'static, [u8]>> {
    let Some(route) = route(path) else {
        return plain(
            StatusCode::NOT_FOUND,
            format!("{path}: no such picture (verity:/face/<case>/<face> or /media/<case>)"),
        );
    };
    let found = state.with_store(|s| {
        let rel = match route {
            Route::Face { case, face } => s.face_display_crop(case, face)?,
            Route::Media { case } => {
                let m = s.media_of_case(case)?;
                (m.kind == "image").then_some(m.blob)
            }
        };
        match rel {
            Some(rel) => {
                let file = s.blobs.path(&rel);
                // The store path goes to the log only; the answer names the picture asked for.
                std::fs::read(&file).map(Some).map_err(|e| {
                    tracing::warn!("{path}: cannot read {}: {e}", file.display());
                    verity::Error::input(path, format!("the stored picture cannot be read: {e}"))
                })
            }
            None => Ok(None),
        }
    });
    match found {
        Ok(Some(bytes)) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, mime(&bytes))
            // Stored pictures never change under their case/face ids.
            .header(header::CACHE_CONTROL, "private, max-age=86400")
            .body(Cow::Owned(bytes))
            .unwrap_or_else(|e| plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        Ok(None) => plain(StatusCode::NOT_FOUND, format!("{path}: no stored picture")),
        Err(e) => plain(StatusCode::NOT_FOUND, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_only_faces_and_still_images_by_positive_ids() {
        assert_eq!(route("/face/3/17"), Some(Route::Face { case: 3, face: 17 }));
        assert_eq!(route("/face%2F3%2F17"), Some(Route::Face { case: 3, face: 17 }));
        assert_eq!(route("/media/9"), Some(Route::Media { case: 9 }));
        for bad in [
            "/",
            "/face/3",
            "/face/0/1",
            "/face/-1/2",
            "/face/a/2",
            "/media/../../etc/passwd",
            "/blob/abc",
            "/face/1/2/3",
        ] {
            assert_eq!(route(bad), None, "{bad}");
        }
    }

    #[test]
    fn content_types_follow_the_bytes() {
        assert_eq!(mime(&[0xFF, 0xD8, 0xFF, 0xE0]), "image/jpeg");
        assert_eq!(mime(b"\x89PNG\r\n\x1a\n"), "image/png");
        assert_eq!(mime(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
    }
}
