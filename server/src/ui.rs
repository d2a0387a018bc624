//! The web UI, embedded in the binary so the server needs nothing beside it: `/` and every path
//! outside `/api` serve the app (deep links reload into it), `/ui/…` its files.

use axum::extract::Path;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $content_type:literal) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!("../ui/", $path)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("format.js", "text/javascript; charset=utf-8"),
    asset!("state.js", "text/javascript; charset=utf-8"),
    asset!("filters.js", "text/javascript; charset=utf-8"),
    asset!("anomalies.js", "text/javascript; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("vendor/cytoscape.min.js", "text/javascript; charset=utf-8"),
    asset!("vendor/layout-base.js", "text/javascript; charset=utf-8"),
    asset!("vendor/cose-base.js", "text/javascript; charset=utf-8"),
    asset!(
        "vendor/cytoscape-fcose.js",
        "text/javascript; charset=utf-8"
    ),
];

fn serve(asset: &Asset) -> Response {
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        asset.body,
    )
        .into_response()
}

/// `GET /ui/{*path}`: an embedded file.
pub async fn file(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|asset| asset.path == path) {
        Some(asset) => serve(asset),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

/// Everything else: the app, except under `/api`, where an unknown route is a JSON 404.
pub async fn app_or_not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api") {
        return ApiError::not_found("no such route; see the README for the API").into_response();
    }
    serve(&ASSETS[0])
}
