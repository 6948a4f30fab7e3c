//! Server assembly: shared state, the router built from the endpoint table, and `spawn`.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{Router, routing::get};
use binance::{ENDPOINTS, Endpoint, Market};
use tokio::{sync::oneshot, task::JoinHandle};

use crate::{
    archive_tree, config::SimConfig, fault::Faults, limits::Limits, model::Model, replay::Replay, rest, user_data, ws,
};

/// Request counters, for tests and benchmarks.
#[derive(Debug)]
pub struct Stats {
    per_endpoint: Vec<AtomicU64>,
    too_many: AtomicU64,
    banned: AtomicU64,
    /// Request weight admitted, spot then USD-M.
    weight: [AtomicU64; 2],
}

impl Stats {
    fn new() -> Self {
        Self {
            per_endpoint: ENDPOINTS.iter().chain(user_data::ROUTES).map(|_| AtomicU64::new(0)).collect(),
            too_many: AtomicU64::new(0),
            banned: AtomicU64::new(0),
            weight: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// Row of `ep` in the table, then in the `USER_DATA` routes (by market and name: both are
    /// `const`s, so addresses differ between crates).
    fn index(ep: &Endpoint) -> Option<usize> {
        ENDPOINTS.iter().chain(user_data::ROUTES).position(|e| e.market == ep.market && e.name == ep.name)
    }

    /// Counts a request of `ep`; returns its 1-based index for that endpoint.
    pub fn record(&self, ep: &Endpoint) -> u64 {
        let i = Self::index(ep).unwrap_or(0);
        self.per_endpoint[i].fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts `weight` admitted on `market`.
    pub fn record_weight(&self, market: Market, weight: u32) {
        self.weight[usize::from(market == Market::UsdM)].fetch_add(u64::from(weight), Ordering::Relaxed);
    }

    /// Request weight admitted on `market` so far (what a client spent of its budget).
    #[must_use]
    pub fn weight(&self, market: Market) -> u64 {
        self.weight[usize::from(market == Market::UsdM)].load(Ordering::Relaxed)
    }

    pub fn record_429(&self) {
        self.too_many.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_418(&self) {
        self.banned.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests served for `ep` so far.
    #[must_use]
    pub fn requests(&self, ep: &Endpoint) -> u64 {
        Self::index(ep).map_or(0, |i| self.per_endpoint[i].load(Ordering::Relaxed))
    }

    /// All requests served.
    #[must_use]
    pub fn total_requests(&self) -> u64 {
        self.per_endpoint.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    #[must_use]
    pub fn responses_429(&self) -> u64 {
        self.too_many.load(Ordering::Relaxed)
    }

    #[must_use]
    pub fn responses_418(&self) -> u64 {
        self.banned.load(Ordering::Relaxed)
    }
}

/// Everything a handler needs.
#[derive(Debug)]
pub struct AppState {
    pub cfg: SimConfig,
    pub model: Arc<Model>,
    pub limits: Limits,
    pub faults: Faults,
    pub stats: Stats,
    /// Replayed archive data (empty without `[[replay]]`).
    pub replay: Arc<Replay>,
    /// Server time minus wall time, in ms.
    offset_ms: i64,
}

/// Wall-clock ms. Rate-limit windows follow it, like Binance's, even when the simulated market
/// clock is shifted: a client aligns its weight windows to real minutes.
pub fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl AppState {
    /// # Panics
    /// A configured replay file fails to load; [`AppState::try_new`] returns the error instead.
    #[must_use]
    pub fn new(cfg: SimConfig) -> Self {
        Self::try_new(cfg).unwrap_or_else(|e| panic!("replay: {e}"))
    }

    /// Builds the state, loading `cfg.replay`. Without `start_time_ms`, a replay starts the
    /// clock 1 ms after its last instant, so "most recent" queries return the files' tails.
    ///
    /// # Errors
    /// The first replay file or row that cannot be loaded.
    pub fn try_new(cfg: SimConfig) -> Result<Self, crate::ReplayError> {
        let replay = Replay::load(&cfg.replay)?;
        let start = cfg.start_time_ms.or_else(|| replay.last_time_ms().map(|t| t + 1));
        let offset_ms = start.map_or(0, |s| s as i64 - wall_ms() as i64);
        Ok(Self {
            model: Arc::new(Model::new(cfg.model.clone())),
            limits: Limits::new(cfg.limits.clone()),
            faults: Faults::new(cfg.faults.clone()),
            stats: Stats::new(),
            replay: Arc::new(replay),
            offset_ms,
            cfg,
        })
    }

    /// Server time in ms: the wall clock, shifted to the configured start.
    #[must_use]
    pub fn now_ms(&self) -> u64 {
        (wall_ms() as i64 + self.offset_ms).max(0) as u64
    }
}

/// The simulator's routes: every table row, the signed `USER_DATA` routes
/// ([`user_data::ROUTES`]), the WebSocket endpoints of both markets (`/ws`, `/stream` for spot;
/// `/fstream/ws`, `/fstream/stream` for USD-M), plus `/data/**` when `archive_dir` is set
/// ([`crate::archive_tree`]).
pub fn router(state: Arc<AppState>) -> Router {
    let mut r = Router::new();
    for ep in ENDPOINTS {
        r = r.route(ep.path, get(move |s, req| rest::handle(ep, s, req)));
    }
    for ep in user_data::ROUTES {
        r = r.route(ep.path, get(move |s, req| user_data::handle(ep, s, req)));
    }
    for (prefix, market) in [("", Market::Spot), ("/fstream", Market::UsdM)] {
        r = r
            .route(&format!("{prefix}/ws"), get(move |s, q, u| ws::raw(market, s, q, u)))
            .route(&format!("{prefix}/ws/{{*streams}}"), get(move |s, q, u| ws::raw(market, s, q, u)))
            .route(&format!("{prefix}/stream"), get(move |s, q, u| ws::combined(market, s, q, u)));
    }
    let archive_dir = state.cfg.archive_dir.clone();
    let r = r.with_state(state);
    match archive_dir {
        Some(dir) => r.merge(archive_tree::router(dir)),
        None => r,
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct SimHandle {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl SimHandle {
    /// Base URL of both REST markets (paths differ: `/api/v3`, `/fapi/v1`, `/futures/data`).
    #[must_use]
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// WebSocket base URL of a market; the client appends `/stream` or `/ws/<name>`.
    #[must_use]
    pub fn stream_url(&self, market: Market) -> String {
        match market {
            Market::Spot => format!("ws://{}", self.addr),
            Market::UsdM => format!("ws://{}/fstream", self.addr),
        }
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Waits until the server stops (e.g. on Ctrl-C handled by the caller).
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

/// Loads the replay files, binds `cfg.bind` and serves in a background task.
///
/// # Errors
/// A replay loading error (kind `InvalidData`, message `path:line: …`), or the bind error.
pub async fn spawn(cfg: SimConfig) -> std::io::Result<SimHandle> {
    let state = Arc::new(AppState::try_new(cfg).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?);
    let listener = tokio::net::TcpListener::bind(state.cfg.bind).await?;
    let addr = listener.local_addr()?;
    let app = router(Arc::clone(&state)).into_make_service_with_connect_info::<SocketAddr>();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            log::error!("simulator stopped: {e}");
        }
    });
    Ok(SimHandle { addr, state, shutdown: Some(tx), task })
}
