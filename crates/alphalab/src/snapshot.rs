//! `alphalab snapshot`: the legacy harness's 41 payloads, fetched concurrently within Binance's
//! limits and written in the legacy layout with request metadata and a run manifest.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use binance::{
    ENDPOINTS, Endpoint, Market,
    endpoint::{LimitClass, ParamKind},
    limiter::{Limiter, LimiterConfig},
    rest::{RawResponse, RestClient, RestConfig},
    stream::{Stream, StreamKind},
    ws::{CaptureConfig, capture},
};
use futures::StreamExt;
use serde::Serialize;
use serde_json::value::RawValue;

use data::raw::write_atomic;

use crate::settings::SnapshotConfig;

/// One REST request of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub ep: &'static Endpoint,
    pub params: Vec<(&'static str, String)>,
}

/// Smallest allowed value ≥ `want` for enumerated limits (futures depth), else `want` capped.
fn fit_limit(want: u32, max: u32, values: &[u32]) -> u32 {
    if values.is_empty() { want.min(max) } else { values.iter().copied().find(|v| *v >= want).unwrap_or(max) }
}

/// The 40 REST requests, parameters filled from the settings as the legacy harness does.
#[must_use]
pub fn plan(cfg: &SnapshotConfig) -> Vec<Planned> {
    ENDPOINTS
        .iter()
        .map(|ep| {
            let mut params = Vec::new();
            for p in ep.params {
                let value = match p.kind {
                    ParamKind::Symbol if p.required => Some(match ep.market {
                        Market::Spot => cfg.spot_symbol.clone(),
                        Market::UsdM => cfg.futures_symbol.clone(),
                    }),
                    // indexInfo takes the composite index; assetIndex is fetched for all assets.
                    ParamKind::Symbol if ep.name == "index_info" => cfg.composite_index_symbol.clone(),
                    ParamKind::Pair => Some(cfg.futures_pair.clone()),
                    ParamKind::Interval => Some("1m".into()),
                    ParamKind::Period => Some("5m".into()),
                    ParamKind::ContractType => Some(cfg.continuous_contract_type.clone()),
                    ParamKind::Limit { max, class, values, .. } => {
                        let want = match class {
                            LimitClass::Trade => cfg.trade_limit.min(1000),
                            LimitClass::Kline => cfg.kline_limit,
                            LimitClass::Funding => cfg.funding_limit,
                            LimitClass::Metric => cfg.metric_limit,
                        };
                        Some(fit_limit(want, max, values).to_string())
                    }
                    _ => None,
                };
                if let Some(v) = value {
                    params.push((p.name, v));
                }
            }
            Planned { ep, params }
        })
        .collect()
}

/// Request metadata stored beside each payload (never any secret).
#[derive(Debug, Serialize)]
struct RequestMeta<'a> {
    method: &'static str,
    url: &'a str,
    path: &'static str,
    params: &'a [(String, String)],
    status: u16,
    weight: u32,
    used_weight: Option<u32>,
    latency_ms: f64,
    elapsed_ms: f64,
    attempts: u32,
}

#[derive(Serialize)]
struct Record<'a, T: Serialize> {
    retrieved_at: String,
    request: T,
    payload: &'a RawValue,
}

/// One line of the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub market: String,
    pub name: String,
    pub path: String,
    pub file: String,
    pub ok: bool,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub code: Option<i64>,
    pub bytes: usize,
    pub rows: Option<usize>,
    pub latency_ms: f64,
    pub weight: u32,
    pub used_weight: Option<u32>,
    pub attempts: u32,
}

/// The WebSocket part of the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct WsEntry {
    pub file: String,
    pub ok: bool,
    pub error: Option<String>,
    pub stream: String,
    pub events: usize,
    pub bytes: usize,
    pub reconnects: u32,
    pub gaps: Vec<(String, String, String)>,
    pub capture_seconds: u64,
}

/// `OUTPUT_DIR/manifest.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub started_at: String,
    pub finished_at: String,
    pub wall_ms: f64,
    pub rest_wall_ms: f64,
    pub spot_symbol: String,
    pub futures_symbol: String,
    pub entries: Vec<Entry>,
    pub websocket: WsEntry,
    /// Highest `X-MBX-USED-WEIGHT-1M` (or local count) per market, and its limit.
    pub peak_used_weight: Vec<(String, u32, u32)>,
}

impl Manifest {
    /// Payloads that failed (REST and WebSocket).
    #[must_use]
    pub fn failures(&self) -> usize {
        self.entries.iter().filter(|e| !e.ok).count() + usize::from(!self.websocket.ok)
    }
}

/// RFC 3339 UTC to the microsecond (the legacy harness's `isoformat()` precision).
fn iso(t: SystemTime) -> String {
    let us = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_micros());
    data::ns_to_rfc3339(u64::try_from(us).unwrap_or(u64::MAX / 1000) * 1000)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn file_for(out: &Path, ep: &Endpoint) -> PathBuf {
    out.join(ep.market.output_dir()).join(format!("{}.json", ep.name))
}

/// Rows of a payload: array length, or bids + asks of a depth object.
fn rows(v: &serde_json::Value) -> Option<usize> {
    match v {
        serde_json::Value::Array(a) => Some(a.len()),
        serde_json::Value::Object(o) => match (o.get("bids"), o.get("asks")) {
            (Some(b), Some(a)) => Some(b.as_array()?.len() + a.as_array()?.len()),
            _ => None,
        },
        _ => None,
    }
}

async fn fetch(client: &RestClient, p: &Planned, cfg: &SnapshotConfig) -> binance::Result<RawResponse> {
    let result = client.get(p.ep, &p.params).await;
    // An unknown composite index falls back to the full list, as Binance's docs suggest.
    if p.ep.name == "index_info"
        && let Err(binance::Error::Api { code: -1121, .. }) = &result
        && let Some(sym) = &cfg.composite_index_symbol
    {
        log::warn!("futures/index_info: composite index {sym} not recognised (-1121); fetching the full list");
        return client.get(p.ep, &[]).await;
    }
    result
}

fn write_rest(out: &Path, p: &Planned, result: binance::Result<RawResponse>) -> Entry {
    let file = file_for(out, p.ep);
    let mut entry = Entry {
        market: p.ep.market.to_string(),
        name: p.ep.name.to_string(),
        path: p.ep.path.to_string(),
        file: file.strip_prefix(out).unwrap_or(&file).display().to_string(),
        ok: false,
        status: None,
        error: None,
        code: None,
        bytes: 0,
        rows: None,
        latency_ms: 0.0,
        weight: p.ep.weight_for(None, true),
        used_weight: None,
        attempts: 0,
    };
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            if let binance::Error::Api { code, status, .. } = &e {
                entry.code = Some(*code);
                entry.status = Some(*status);
            }
            entry.error = Some(e.to_string());
            // A failed payload must not leave a previous run's file looking current.
            let _ = std::fs::remove_file(&file);
            return entry;
        }
    };
    entry.status = Some(r.status);
    entry.bytes = r.body.len();
    entry.latency_ms = ms(r.latency);
    entry.weight = r.weight;
    entry.used_weight = r.used_weight;
    entry.attempts = r.attempts;
    let payload: &RawValue = match serde_json::from_slice(&r.body) {
        Ok(p) => p,
        Err(e) => {
            entry.error = Some(format!("{}: body is not JSON: {e}", p.ep.id()));
            return entry;
        }
    };
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(payload.get()) {
        entry.rows = rows(&value);
        // Binance changes fields now and then: say so, but keep the exact payload.
        if let Err(drift) = p.ep.check_payload(&value) {
            log::warn!("{drift}");
        }
    }
    let meta = RequestMeta {
        method: "GET",
        url: &r.url,
        path: p.ep.path,
        params: &r.params,
        status: r.status,
        weight: r.weight,
        used_weight: r.used_weight,
        latency_ms: ms(r.latency),
        elapsed_ms: ms(r.elapsed),
        attempts: r.attempts,
    };
    let rec = Record { retrieved_at: iso(r.retrieved_at), request: meta, payload };
    let bytes = serde_json::to_vec_pretty(&rec).expect("records serialise");
    match write_atomic(&file, &bytes) {
        Ok(()) => entry.ok = true,
        Err(e) => entry.error = Some(e.to_string()),
    }
    entry
}

/// Envelope of a combined-stream frame, borrowing the exact event bytes.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    stream: &'a str,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(serde::Deserialize)]
struct EventTime {
    #[serde(rename = "E")]
    e: Option<u64>,
}

#[derive(Serialize)]
struct WsEvent<'a> {
    received_at: String,
    received_at_ns: u64,
    stream: &'a str,
    frame_bytes: usize,
    /// Receive time − event time `E`: network plus server delay, for the microstructure figure.
    latency_ms: Option<f64>,
    data: &'a RawValue,
}

async fn capture_ws(cfg: &SnapshotConfig, out: &Path) -> WsEntry {
    let stream = Stream::new(&cfg.spot_symbol, StreamKind::RollingTicker(cfg.ws_window));
    let file = out.join("spot/websocket/rolling_window_ticker.json");
    let mut entry = WsEntry {
        file: "spot/websocket/rolling_window_ticker.json".into(),
        ok: false,
        error: None,
        stream: stream.name(),
        events: 0,
        bytes: 0,
        reconnects: 0,
        gaps: Vec::new(),
        capture_seconds: cfg.ws_capture_seconds,
    };
    let started = SystemTime::now();
    let ccfg = CaptureConfig::new(
        cfg.stream_url_spot.clone(),
        vec![stream.clone()],
        Duration::from_secs(cfg.ws_capture_seconds),
    );
    let cap = match capture(ccfg).await {
        Ok(c) => c,
        Err(e) => {
            entry.error = Some(e.to_string());
            let _ = std::fs::remove_file(&file);
            return entry;
        }
    };
    let ns_iso = |ns: u64| iso(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns));
    entry.reconnects = cap.reconnects;
    entry.gaps = cap.gaps.iter().map(|g| (ns_iso(g.from_ns), ns_iso(g.to_ns), g.reason.clone())).collect();
    let mut events = Vec::with_capacity(cap.frames.len());
    for f in &cap.frames {
        let Ok(env) = serde_json::from_str::<Envelope>(&f.text) else {
            log::warn!("spot/websocket: skipping a frame that is not a stream envelope ({} bytes)", f.text.len());
            continue;
        };
        let e = serde_json::from_str::<EventTime>(env.data.get()).ok().and_then(|t| t.e);
        events.push(WsEvent {
            received_at: ns_iso(f.received_at_ns),
            received_at_ns: f.received_at_ns,
            stream: env.stream,
            frame_bytes: f.text.len(),
            latency_ms: e.map(|e| f.received_at_ns as f64 / 1e6 - e as f64),
            data: env.data,
        });
    }
    entry.events = events.len();
    #[derive(Serialize)]
    struct Meta<'a> {
        url: &'a str,
        streams: &'a [String],
        window: &'static str,
        capture_seconds: u64,
        reconnects: u32,
        gaps: &'a [(String, String, String)],
    }
    let meta = Meta {
        url: &cfg.stream_url_spot,
        streams: &cap.subscribed,
        window: cfg.ws_window.as_str(),
        capture_seconds: cfg.ws_capture_seconds,
        reconnects: cap.reconnects,
        gaps: &entry.gaps,
    };
    #[derive(Serialize)]
    struct WsRecord<'a> {
        retrieved_at: String,
        request: Meta<'a>,
        payload: Vec<WsEvent<'a>>,
    }
    let rec = WsRecord { retrieved_at: iso(started), request: meta, payload: events };
    let bytes = serde_json::to_vec_pretty(&rec).expect("records serialise");
    entry.bytes = bytes.len();
    match write_atomic(&file, &bytes) {
        Ok(()) => entry.ok = true,
        Err(e) => entry.error = Some(e.to_string()),
    }
    entry
}

/// Runs the whole snapshot: the WebSocket capture concurrently with every REST call.
///
/// # Errors
/// Only when the HTTP client cannot be built or the manifest cannot be written; a failing
/// payload is recorded in the manifest instead.
pub async fn run(cfg: &SnapshotConfig) -> anyhow::Result<Manifest> {
    let started = SystemTime::now();
    let t0 = std::time::Instant::now();
    let out = cfg.output_dir.clone();
    let limiter = |m| Limiter::new(m, LimiterConfig { weight_per_minute: None, safety_margin: cfg.weight_margin });
    let client = RestClient::with_limiters(
        RestConfig {
            spot_url: cfg.base_path_spot.clone(),
            usdm_url: cfg.base_path_futures.clone(),
            timeout: Duration::from_secs_f64(cfg.timeout_secs),
            max_retries: cfg.max_retries,
            api_key: cfg.api_key.as_ref().map(|s| s.0.clone()),
            ..RestConfig::default()
        },
        limiter(Market::Spot),
        limiter(Market::UsdM),
    )?;
    let plan = plan(cfg);
    log::info!(
        "snapshot: {} REST payloads + {} s of {} into {}",
        plan.len(),
        cfg.ws_capture_seconds,
        Stream::new(&cfg.spot_symbol, StreamKind::RollingTicker(cfg.ws_window)).name(),
        out.display()
    );
    let ws = capture_ws(cfg, &out);
    // The REST phase is timed from its first request, like the sequential baseline in benches.
    let rest_t0 = std::time::Instant::now();
    let rest = async {
        let entries: Vec<Entry> = futures::stream::iter(plan)
            .map(|p| {
                let client = client.clone();
                let out = out.clone();
                async move {
                    let result = fetch(&client, &p, cfg).await;
                    let entry =
                        tokio::task::spawn_blocking(move || write_rest(&out, &p, result)).await.expect("writer task");
                    log_entry(&entry);
                    entry
                }
            })
            .buffered(cfg.concurrency)
            .collect()
            .await;
        (entries, rest_t0.elapsed())
    };
    let ((entries, rest_wall), websocket) = tokio::join!(rest, ws);
    let manifest = Manifest {
        started_at: iso(started),
        finished_at: iso(SystemTime::now()),
        wall_ms: ms(t0.elapsed()),
        rest_wall_ms: ms(rest_wall),
        spot_symbol: cfg.spot_symbol.clone(),
        futures_symbol: cfg.futures_symbol.clone(),
        entries,
        websocket,
        peak_used_weight: Market::ALL
            .iter()
            .map(|m| (m.to_string(), client.limiter(*m).peak_used_weight(), m.weight_per_minute()))
            .collect(),
    };
    write_atomic(&out.join("manifest.json"), &serde_json::to_vec_pretty(&manifest)?)?;
    log_summary(&manifest);
    Ok(manifest)
}

fn log_entry(e: &Entry) {
    if e.ok {
        let rows = e.rows.map_or(String::new(), |r| format!(", {r} rows"));
        log::info!("{}/{}: {} in {:.0} ms, {} B{rows}", e.market, e.name, e.status.unwrap_or(0), e.latency_ms, e.bytes);
    } else {
        log::error!("{}/{}: FAILED: {}", e.market, e.name, e.error.as_deref().unwrap_or("?"));
    }
}

fn log_summary(m: &Manifest) {
    let ok = m.entries.iter().filter(|e| e.ok).count();
    let bytes: usize = m.entries.iter().map(|e| e.bytes).sum();
    log::info!(
        "snapshot summary: REST {ok}/{} ok, {bytes} B, REST phase {:.0} ms; websocket {} ({} events, {} reconnects); total {:.0} ms",
        m.entries.len(),
        m.rest_wall_ms,
        if m.websocket.ok { "ok" } else { "FAILED" },
        m.websocket.events,
        m.websocket.reconnects,
        m.wall_ms
    );
    for (market, peak, limit) in &m.peak_used_weight {
        log::info!("snapshot summary: {market} peak used weight {peak} / {limit} per minute");
    }
    for e in m.entries.iter().filter(|e| !e.ok) {
        log::error!("snapshot summary: {}/{} failed: {}", e.market, e.name, e.error.as_deref().unwrap_or("?"));
    }
    if let Some(err) = &m.websocket.error {
        log::error!("snapshot summary: websocket failed: {err}");
    }
}

/// The snapshot's summary for the terminal.
pub fn print_summary(m: &Manifest, out: &Path) {
    let ok = m.entries.iter().filter(|e| e.ok).count();
    let bytes: usize = m.entries.iter().map(|e| e.bytes).sum();
    crate::console::step(&format!("snapshot: {} → {}", m.spot_symbol, out.display()));
    crate::console::detail(&format!(
        "REST {ok}/{} payloads ({} kB) in {:.2} s; WebSocket {}: {} events",
        m.entries.len(),
        bytes / 1000,
        m.rest_wall_ms / 1e3,
        if m.websocket.ok { "ok" } else { "FAILED" },
        m.websocket.events
    ));
    let weights: Vec<String> =
        m.peak_used_weight.iter().map(|(market, peak, limit)| format!("{market} {peak}/{limit}")).collect();
    crate::console::detail(&format!("peak used weight per minute: {}", weights.join(", ")));
    for e in m.entries.iter().filter(|e| !e.ok) {
        crate::console::detail(&format!("FAILED {}/{}: {}", e.market, e.name, e.error.as_deref().unwrap_or("?")));
    }
    crate::console::detail("manifest.json lists every payload");
}
