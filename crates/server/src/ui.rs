//! The web UI: plain ES modules, a stylesheet and two vendored libraries
//! (marked, DOMPurify), embedded in the binary at build time so that
//! `flowpilot serve` needs no Node.js, no CDN and no files beside it.
//!
//! Every answer here carries a Content-Security-Policy that allows only
//! this origin's scripts and styles (no inline script, no `eval`), so that
//! text which slipped past sanitising still could not run. Nothing here
//! touches the API: the UI is a client of `/api/v1` like any other.

use std::hash::{Hash as _, Hasher as _};

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::extract::Path;
use crate::state::AppState;

/// Scripts, styles, images and connections from this origin only; no
/// framing, no `<base>`, forms post here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; \
frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("../ui/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Everything under `/ui/`, by the path after it.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("markdown.js", JS),
    asset!("sse.js", JS),
    asset!("attachments.js", JS),
    asset!("views/auth.js", JS),
    asset!("views/sessions.js", JS),
    asset!("views/workspace.js", JS),
    asset!("views/panels.js", JS),
    asset!("views/kb.js", JS),
    asset!("views/admin.js", JS),
    asset!("vendor/marked.esm.js", JS),
    asset!("vendor/purify.es.mjs", JS),
];

/// `GET /` and `GET /ui/{*path}`, each answer with the UI's security
/// headers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{*path}", get(asset))
        .layer(axum::middleware::map_response(security_headers))
}

async fn index(headers: HeaderMap) -> Response {
    serve(find("index.html"), &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    // `index.html` lives at `/` only, so the page has one address.
    let found = find(&path).filter(|a| a.path != "index.html");
    serve(found, &headers)
}

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The file, or 304 when the browser's copy is current. Files change only
/// with the binary, so browsers revalidate (`no-cache`) against an ETag
/// rather than keeping a copy that might outlive an upgrade.
fn serve(asset: Option<&'static Asset>, headers: &HeaderMap) -> Response {
    let Some(asset) = asset else {
        return ApiError::not_found().into_response();
    };
    let etag = etag(asset);
    let cache = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    let current = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag || tag.trim() == "*");
    if current {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    let content_type = HeaderValue::from_static(asset.content_type);
    (cache, [(header::CONTENT_TYPE, content_type)], asset.body).into_response()
}

/// A strong validator: the file's hash with the build's version.
fn etag(asset: &Asset) -> HeaderValue {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    asset.body.hash(&mut hasher);
    HeaderValue::from_str(&format!("\"{:016x}\"", hasher.finish()))
        .expect("a quoted hex string is a valid header value")
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
    ];
    for (name, value) in set {
        headers.insert(name, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_path_is_unique_and_typed_by_its_extension() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(
                ASSETS[..i].iter().all(|b| b.path != a.path),
                "{} twice",
                a.path
            );
            let ext = a.path.rsplit('.').next().expect("an extension");
            let expected = match ext {
                "js" | "mjs" => "text/javascript",
                "css" => "text/css",
                "html" => "text/html",
                "svg" => "image/svg+xml",
                other => panic!("no content type for .{other}"),
            };
            assert!(a.content_type.starts_with(expected), "{}", a.path);
        }
    }

    /// A file added to `ui/` but not to `ASSETS` would be a 404 in the
    /// browser; licences and notes are not served.
    #[test]
    fn every_file_in_the_ui_directory_is_served() {
        fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("the ui directory") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    walk(&path, base, out);
                } else {
                    let rel = path.strip_prefix(base).expect("inside ui/");
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let mut files = Vec::new();
        walk(&base, &base, &mut files);
        for file in files {
            let name = file.rsplit('/').next().unwrap_or_default();
            if name.starts_with("LICENSE") || name == "README.md" {
                continue;
            }
            assert!(find(&file).is_some(), "ui/{file} is not in ASSETS");
        }
    }

    #[test]
    fn the_policy_allows_no_inline_or_eval_script() {
        let script_src = CONTENT_SECURITY_POLICY
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src"))
            .expect("a script-src directive");
        assert_eq!(script_src, "script-src 'self'");
    }
}
