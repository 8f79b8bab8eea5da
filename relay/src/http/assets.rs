//! The web client, compiled into the binary (read from disk in debug builds).

use axum::body::Body;
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};

use crate::error::Error;

#[derive(rust_embed::RustEmbed)]
#[folder = "../web-client/"]
struct Assets;

/// The web client, compiled into the binary.
pub(super) async fn static_file(uri: Uri) -> Response {
    let path = match uri.path() {
        "/" => "index.html",
        "/join" => "join.html",
        p => p.trim_start_matches('/'),
    };
    match Assets::get(path) {
        Some(file) => {
            let mime = match path.rsplit('.').next() {
                Some("html") => "text/html; charset=utf-8",
                Some("js" | "mjs") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                Some("png") => "image/png",
                Some("json") => "application/json",
                _ => "application/octet-stream",
            };
            (
                [
                    (header::CONTENT_TYPE, mime),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                Body::from(file.data.into_owned()),
            )
                .into_response()
        }
        None => Error::not_found("no such page").into_response(),
    }
}
