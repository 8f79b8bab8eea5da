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
        "/contact" => "contact.html",
        p => p.trim_start_matches('/'),
    };
    match Assets::get(path) {
        Some(file) => {
            // rust-embed guesses the type from the name (mime_guess); every
            // text file here is UTF-8, which browsers should not have to guess.
            let mime = file.metadata.mimetype();
            let mime = if mime.starts_with("text/") && !mime.contains("charset") {
                format!("{mime}; charset=utf-8")
            } else {
                mime.to_string()
            };
            (
                [
                    (header::CONTENT_TYPE, mime),
                    (header::CACHE_CONTROL, "no-cache".to_string()),
                ],
                Body::from(file.data.into_owned()),
            )
                .into_response()
        }
        None => Error::not_found("no such page").into_response(),
    }
}
