//! The web UI: static assets built into the binary (no run-time fetch from the internet), served
//! at `/` (the single page) and `/assets/*`. The page talks only to `/api/v1` with the bearer token
//! the user typed or passed in the URL fragment (`/#token=…`), kept in session storage.
//!
//! Caching: every answer carries a strong `ETag` (a hash of the bytes, computed once) and
//! `Cache-Control: no-cache`, so a browser revalidates and gets `304 Not Modified` until the binary
//! changes: the asset names carry no version, and a new binary must never run with old scripts.
//! Every answer also says `X-Content-Type-Options: nosniff` and a Content-Security-Policy that
//! allows only this origin (no inline script, no third-party anything).

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $ct:expr) => {
        Asset {
            name: $name,
            content_type: $ct,
            body: include_bytes!(concat!("../ui/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// The page and everything it loads.
static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("main.js", JS),
    asset!("api.js", JS),
    asset!("stream.js", JS),
    asset!("dom.js", JS),
    asset!("envs.js", JS),
    asset!("apps.js", JS),
    asset!("app.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
];

/// What the page may do: load from this origin only, talk to this origin only, be framed by none.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The UI's routes: `/` and `/assets/{file}`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{file}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve(find("index.html"), &headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    // index.html is the page at `/`, not an asset.
    match find(&file).filter(|a| a.name != "index.html") {
        Some(a) => serve(Some(a), &headers),
        None => serve(None, &headers),
    }
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The ETag of each asset, in the order of [`ASSETS`].
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| ASSETS.iter().map(|a| etag(a.body)).collect())
}

/// A strong validator: FNV-1a (64 bits) of the bytes and their length.
fn etag(body: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("\"{h:016x}-{:x}\"", body.len())
}

fn serve(asset: Option<&'static Asset>, headers: &HeaderMap) -> Response {
    let Some(asset) = asset else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"error":"no such asset"}"#,
        )
            .into_response();
    };
    let i = ASSETS
        .iter()
        .position(|a| std::ptr::eq(a, asset))
        .unwrap_or_default();
    let tag = &etags()[i];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_served() {
        // Each `import ... from './x.js'` and each `/assets/x` the page names must be embedded,
        // or the page breaks at run time with nothing at build time to say so.
        let mut named = Vec::new();
        for a in ASSETS {
            let text = std::str::from_utf8(a.body).expect("assets are UTF-8");
            for part in text.split("from './").skip(1) {
                named.push(part.split('\'').next().unwrap_or_default().to_string());
            }
            for part in text.split("\"/assets/").skip(1) {
                named.push(part.split('"').next().unwrap_or_default().to_string());
            }
        }
        assert!(named.iter().any(|n| n == "main.js"), "{named:?}");
        assert!(named.iter().any(|n| n == "api.js"), "{named:?}");
        for n in &named {
            assert!(find(n).is_some(), "{n} is imported but not embedded");
        }
        // ... and nothing embedded is dead weight.
        for a in ASSETS.iter().filter(|a| a.name != "index.html") {
            assert!(
                named.iter().any(|n| n == a.name),
                "{} is embedded but nothing loads it",
                a.name
            );
        }
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for a in ASSETS {
            let text = std::str::from_utf8(a.body).expect("assets are UTF-8");
            for bad in ["http://", "https://", "//cdn", "eventsource("] {
                let lower = text.to_lowercase();
                // The SVG namespace is an identifier, not a fetch.
                let lower = lower.replace("http://www.w3.org/2000/svg", "");
                assert!(!lower.contains(bad), "{} contains {bad}", a.name);
            }
        }
    }

    /// `/` and `/assets/*` over a real socket: types, security headers, revalidation, 404s.
    #[tokio::test]
    async fn served_with_types_security_headers_and_etags() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, routes::<()>()).await;
        });
        let c = reqwest::Client::new();
        let r = c.get(format!("{base}/")).send().await.expect("GET /");
        assert_eq!(r.status(), 200);
        let h = r.headers().clone();
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");
        let tag = h[header::ETAG].to_str().expect("etag").to_string();
        assert!(r.text().await.expect("body").contains("/assets/main.js"));

        let r = c
            .get(format!("{base}/"))
            .header(header::IF_NONE_MATCH, &tag)
            .send()
            .await
            .expect("revalidate");
        assert_eq!(r.status(), 304);
        assert!(r.text().await.expect("body").is_empty());

        let r = c
            .get(format!("{base}/assets/app.css"))
            .send()
            .await
            .expect("css");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
        let r = c
            .get(format!("{base}/assets/main.js"))
            .send()
            .await
            .expect("js");
        assert_eq!(r.headers()[header::CONTENT_TYPE], JS);
        assert_ne!(r.headers()[header::ETAG].to_str().ok(), Some(tag.as_str()));

        for missing in [
            "/assets/nope.js",
            "/assets/index.html",
            "/assets/..%2Fui.rs",
        ] {
            let r = c.get(format!("{base}{missing}")).send().await.expect("404");
            assert_eq!(r.status(), 404, "{missing}");
            assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        }
    }

    #[test]
    fn etags_differ_with_the_bytes() {
        assert_ne!(etag(b"a"), etag(b"b"));
        assert_ne!(etag(b""), etag(b"\0"));
        assert_eq!(etag(b"abc"), etag(b"abc"));
        assert_eq!(etags().len(), ASSETS.len());
    }
}
