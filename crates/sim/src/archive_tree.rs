//! An offline data.binance.vision: files of a local folder served under `/data/...`.
//!
//! With `archive_dir = DIR` (`alphalab sim --archive-dir DIR`), `GET /data/<path>` answers the
//! bytes of `DIR/data/<path>`: DIR is a mirror of the site root, e.g.
//! `DIR/data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip` and its `.zip.CHECKSUM`.
//! Like the real site, a missing file is a 404. Paths with empty, `.` or `..` segments or a
//! backslash are refused (400) before touching the disk, so nothing outside `DIR/data` is served.
//! No weights and no faults apply: the real site is a static file host.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use axum::{
    Router,
    extract::{Path as UrlPath, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

/// The routes serving `DIR/data/**` under `/data/**`.
pub fn router(dir: PathBuf) -> Router {
    Router::new().route("/data/{*path}", get(serve)).with_state(Arc::new(dir.join("data")))
}

/// `rel` as a relative path of plain segments, or `None` if any segment could escape the tree.
fn safe_rel(rel: &str) -> Option<PathBuf> {
    let ok = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains(['\\', '\0']);
    rel.split('/').all(ok).then(|| PathBuf::from(rel))
}

fn content_type(p: &Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()) {
        Some("zip") => "application/zip",
        Some("CHECKSUM") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn serve(State(root): State<Arc<PathBuf>>, UrlPath(rel): UrlPath<String>) -> Response {
    let Some(rel) = safe_rel(&rel) else {
        return (StatusCode::BAD_REQUEST, "path refused: empty, '.' or '..' segment\n").into_response();
    };
    let path = root.join(&rel);
    let is_file = tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file());
    if !is_file {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    match tokio::fs::read(&path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type(&path))], bytes).into_response(),
        Err(e) => {
            log::error!("archive tree: {}: {e}", path.display());
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::SimConfig;

    #[test]
    fn only_plain_segments_pass() {
        assert_eq!(safe_rel("spot/daily/a.zip"), Some(PathBuf::from("spot/daily/a.zip")));
        for bad in ["../secret", "spot/../../x", "spot//a.zip", "./a.zip", "a\\..\\b", "", "spot/"] {
            assert_eq!(safe_rel(bad), None, "{bad}");
        }
    }

    /// Status line of a raw request (clients normalise `..` away, so send the bytes ourselves).
    async fn raw_status(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out.lines().next().unwrap_or_default().to_string()
    }

    #[tokio::test]
    async fn serves_files_404s_and_refuses_traversal() {
        let dir = std::env::temp_dir().join(format!("alphalab-sim-archive-tree-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rel = "data/spot/daily/klines/ADABTC/1m/ADABTC-1m-2021-11-27.zip";
        std::fs::create_dir_all(dir.join(rel).parent().unwrap()).unwrap();
        std::fs::write(dir.join(rel), b"PK zip bytes").unwrap();
        std::fs::write(dir.join(format!("{rel}.CHECKSUM")), b"abc  ADABTC-1m-2021-11-27.zip\n").unwrap();
        std::fs::write(dir.join("secret.txt"), b"outside data/").unwrap();

        let cfg = SimConfig { archive_dir: Some(dir.clone()), ..SimConfig::default() };
        let sim = crate::spawn(cfg).await.unwrap();
        let base = sim.rest_url();
        let resp = reqwest::get(format!("{base}/{rel}")).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/zip");
        assert_eq!(resp.bytes().await.unwrap().as_ref(), b"PK zip bytes");
        let sum = reqwest::get(format!("{base}/{rel}.CHECKSUM")).await.unwrap();
        assert_eq!((sum.status().as_u16(), sum.text().await.unwrap()), (200, "abc  ADABTC-1m-2021-11-27.zip\n".into()));
        for missing in ["data/spot/daily/klines/ADABTC/1m/ADABTC-1m-2021-11-28.zip", "data/spot/daily"] {
            assert_eq!(reqwest::get(format!("{base}/{missing}")).await.unwrap().status(), 404, "{missing}");
        }
        assert_eq!(raw_status(sim.addr, "/data/../secret.txt").await, "HTTP/1.1 400 Bad Request");
        assert_eq!(raw_status(sim.addr, "/data/spot/..%2f..%2fsecret.txt").await, "HTTP/1.1 400 Bad Request");
        // The REST routes are untouched.
        assert_eq!(reqwest::get(format!("{base}/api/v3/ping")).await.unwrap().status(), 200);
        sim.shutdown().await;

        // Without an archive dir there is no /data route at all.
        let sim = crate::spawn(SimConfig::default()).await.unwrap();
        assert_eq!(reqwest::get(format!("{}/{rel}", sim.rest_url())).await.unwrap().status(), 404);
        sim.shutdown().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
