//! The per-market request-weight budget shared by every client behind one IP.
//!
//! Binance meters `REQUEST_WEIGHT` per IP in fixed one-minute windows aligned to the clock
//! minute (`X-MBX-USED-WEIGHT-1M` drops to 0 at each `hh:mm:00`); exceeding it earns a 429 and,
//! repeated, a 418 ban. A [`Limiter`] mirrors that meter so we never get there:
//!
//! - weight is pre-charged before a request leaves, under one mutex, so concurrent callers
//!   cannot overshoot together; the plan never goes beyond `limit × (1 − safety_margin)`;
//! - the server's own count (`observe_used_weight`) can only raise ours within a window;
//! - the USD-M 5-minute request buckets ([`Bucket`]) use a *sliding* 300 s window, which is
//!   stricter than any fixed window Binance might use;
//! - a 429 pauses every caller (`pause_for`), a 418 stops the market for good (`ban`).
//!
//! Time: windows follow the wall clock ([`SystemClock`] reads `SystemTime`), because that is
//! what Binance aligns to; waiting is a `tokio` sleep for the remaining wall-clock distance,
//! after which the state is re-checked, so a wall-clock step only costs one more loop. Clock
//! skew against the server is absorbed by the safety margin and the header correction (a
//! late response of the previous window can only raise the new window's count: conservative).
//! Tests and simulations inject a [`ManualClock`] whose sleeps jump virtual time instantly.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;

use crate::endpoint::{Bucket, Market};
use crate::error::{Error, Result};

const MINUTE: Duration = Duration::from_secs(60);

/// Source of wall-clock time and of waiting, so tests need not wait for real minutes.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Time since the Unix epoch; minute windows are aligned to it.
    fn unix_now(&self) -> Duration;
    /// Completes once `unix_now() >= until` is plausible; callers re-check afterwards.
    fn sleep_until(&self, until: Duration) -> BoxFuture<'static, ()>;
}

/// Production clock: `SystemTime` for alignment, `tokio::time::sleep` for waiting.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_now(&self) -> Duration {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
    }

    fn sleep_until(&self, until: Duration) -> BoxFuture<'static, ()> {
        let d = until.saturating_sub(self.unix_now());
        Box::pin(tokio::time::sleep(d))
    }
}

/// Virtual clock for tests and simulations: sleeping moves time forward at once.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Duration>>);

impl ManualClock {
    #[must_use]
    pub fn new(unix_now: Duration) -> Self {
        Self(Arc::new(Mutex::new(unix_now)))
    }

    pub fn advance(&self, d: Duration) {
        *lock(&self.0) += d;
    }
}

impl Clock for ManualClock {
    fn unix_now(&self) -> Duration {
        *lock(&self.0)
    }

    fn sleep_until(&self, until: Duration) -> BoxFuture<'static, ()> {
        let mut now = lock(&self.0);
        *now = (*now).max(until);
        Box::pin(tokio::task::yield_now())
    }
}

/// Poisoning only means another caller panicked mid-update; the counters stay usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug, Clone, Copy)]
pub struct LimiterConfig {
    /// `None`: the market's documented limit ([`Market::weight_per_minute`]).
    pub weight_per_minute: Option<u32>,
    /// Share of every limit never planned for (default 0.10: at most 90 %).
    pub safety_margin: f64,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self { weight_per_minute: None, safety_margin: 0.10 }
    }
}

/// One market's budget; clones share it (`Arc`), so hand the same one to every client.
#[derive(Debug, Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    market: Market,
    limit: u32,
    /// `limit × (1 − margin)`; the most we plan per window.
    budget: u32,
    margin: f64,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Index of the current minute since the epoch.
    window: u64,
    used: u32,
    paused_until: Option<Duration>,
    banned_secs: Option<u64>,
    /// Request times per bucket within the last bucket window (sliding).
    buckets: Vec<(Bucket, VecDeque<Duration>)>,
    peak: u32,
    waits: u64,
    waited: Duration,
    total: u64,
    throttles: u64,
}

impl State {
    /// Moves to the window containing `now`, forgetting the previous window's count.
    fn roll(&mut self, now: Duration) {
        let w = now.as_secs() / MINUTE.as_secs();
        if w != self.window {
            self.window = w;
            self.used = 0;
        }
    }

    fn bucket(&mut self, b: Bucket) -> &mut VecDeque<Duration> {
        let i = match self.buckets.iter().position(|(k, _)| *k == b) {
            Some(i) => i,
            None => {
                self.buckets.push((b, VecDeque::new()));
                self.buckets.len() - 1
            }
        };
        &mut self.buckets[i].1
    }

    fn raise(&mut self, used: u32) {
        self.used = self.used.max(used);
        self.peak = self.peak.max(self.used);
    }
}

/// `limit × (1 − margin)`, at least 1 so a tiny limit still lets requests through.
fn planned(limit: u32, margin: f64) -> u32 {
    let m = margin.clamp(0.0, 1.0);
    // Truncation is the point: never round a budget up.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let b = (f64::from(limit) * (1.0 - m)).floor() as u32;
    b.max(1)
}

impl Limiter {
    /// A limiter on the wall clock.
    #[must_use]
    pub fn new(market: Market, cfg: LimiterConfig) -> Self {
        Self::with_clock(market, cfg, Arc::new(SystemClock))
    }

    #[must_use]
    pub fn with_clock(market: Market, cfg: LimiterConfig, clock: Arc<dyn Clock>) -> Self {
        let limit = cfg.weight_per_minute.unwrap_or_else(|| market.weight_per_minute());
        let state = State { window: clock.unix_now().as_secs() / 60, ..State::default() };
        Self {
            inner: Arc::new(Inner {
                market,
                limit,
                budget: planned(limit, cfg.safety_margin),
                margin: cfg.safety_margin,
                clock,
                state: Mutex::new(state),
            }),
        }
    }

    #[must_use]
    pub fn market(&self) -> Market {
        self.inner.market
    }

    /// Weight planned per minute window (limit minus the safety margin).
    #[must_use]
    pub fn budget(&self) -> u32 {
        self.inner.budget
    }

    /// The clock this limiter waits on (so callers can measure in the same time).
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Waits until `weight` (and one request of `bucket`) fits, then charges it.
    ///
    /// A single request heavier than the whole budget is let through in an empty window,
    /// since waiting could never help it.
    ///
    /// # Errors
    /// [`Error::Banned`] once [`Limiter::ban`] was called.
    pub async fn acquire(&self, weight: u32, bucket: Option<Bucket>) -> Result<()> {
        let mut waited = false;
        let start = self.inner.clock.unix_now();
        loop {
            let until = {
                let mut s = lock(&self.inner.state);
                let now = self.inner.clock.unix_now();
                if let Some(secs) = s.banned_secs {
                    return Err(Error::Banned { market: self.inner.market, retry_after_secs: secs });
                }
                match self.blocked_until(&mut s, now, weight, bucket) {
                    Some(until) => {
                        if !waited {
                            s.waits += 1;
                        }
                        until
                    }
                    None => {
                        if waited {
                            s.waited += now.saturating_sub(start);
                        }
                        let used = s.used.saturating_add(weight);
                        s.raise(used);
                        s.total += u64::from(weight);
                        if let Some(b) = bucket {
                            s.bucket(b).push_back(now);
                        }
                        return Ok(());
                    }
                }
            };
            waited = true;
            log::debug!(
                "{} limiter: waiting {:?} for weight {weight}",
                self.inner.market,
                until.saturating_sub(self.inner.clock.unix_now())
            );
            self.inner.clock.sleep_until(until).await;
        }
    }

    /// When the request could go at the earliest, or `None` if it fits now.
    fn blocked_until(&self, s: &mut State, now: Duration, weight: u32, bucket: Option<Bucket>) -> Option<Duration> {
        s.roll(now);
        if let Some(p) = s.paused_until.filter(|p| *p > now) {
            return Some(p);
        }
        if let Some(b) = bucket {
            let (requests, secs) = b.limit();
            let window = Duration::from_secs(secs);
            let cap = planned(requests, self.inner.margin) as usize;
            let q = s.bucket(b);
            while q.front().is_some_and(|t| *t + window <= now) {
                q.pop_front();
            }
            if q.len() >= cap {
                return q.front().map(|t| *t + window);
            }
        }
        if s.used > 0 && s.used.saturating_add(weight) > self.inner.budget {
            return Some(Duration::from_secs((s.window + 1) * MINUTE.as_secs()));
        }
        None
    }

    /// Server-reported `X-MBX-USED-WEIGHT-1M`: only ever raises this window's count.
    pub fn observe_used_weight(&self, used: u32) {
        let mut s = lock(&self.inner.state);
        s.roll(self.inner.clock.unix_now());
        if used > self.inner.budget {
            log::warn!(
                "{}: server reports used weight {used} of {} (planned {})",
                self.inner.market,
                self.inner.limit,
                self.inner.budget
            );
        }
        s.raise(used);
    }

    /// HTTP 429: every acquire waits `d` from now (extends, never shortens a pause).
    pub fn pause_for(&self, d: Duration) {
        let until = self.inner.clock.unix_now() + d;
        let mut s = lock(&self.inner.state);
        s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
        s.throttles += 1;
    }

    /// Like [`Limiter::pause_for`], with a monotonic deadline.
    pub fn pause_until(&self, until: Instant) {
        self.pause_for(until.saturating_duration_since(Instant::now()));
    }

    /// HTTP 418: stop this market for the rest of the run; acquire fails from now on.
    pub fn ban(&self, retry_after: Duration) {
        log::warn!("{}: IP banned, retry after {} s; market stopped", self.inner.market, retry_after.as_secs());
        lock(&self.inner.state).banned_secs = Some(retry_after.as_secs());
    }

    #[must_use]
    pub fn is_banned(&self) -> bool {
        lock(&self.inner.state).banned_secs.is_some()
    }

    /// Weight counted in the current window (ours or the server's, whichever is higher).
    #[must_use]
    pub fn used_weight(&self) -> u32 {
        let mut s = lock(&self.inner.state);
        s.roll(self.inner.clock.unix_now());
        s.used
    }

    /// Highest per-window weight seen, local or server-reported.
    #[must_use]
    pub fn peak_used_weight(&self) -> u32 {
        lock(&self.inner.state).peak
    }

    /// Number of acquires that had to wait.
    #[must_use]
    pub fn waits(&self) -> u64 {
        lock(&self.inner.state).waits
    }

    /// Total time acquirers spent waiting (on the limiter's clock).
    #[must_use]
    pub fn waited(&self) -> Duration {
        lock(&self.inner.state).waited
    }

    /// Sum of all weight charged by acquire.
    #[must_use]
    pub fn total_weight(&self) -> u64 {
        lock(&self.inner.state).total
    }

    /// HTTP 429 answers received ([`Limiter::pause_for`] calls): 0 when the budget held.
    #[must_use]
    pub fn throttles(&self) -> u64 {
        lock(&self.inner.state).throttles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 s into a minute, so a window boundary is 50 s away.
    const T0: Duration = Duration::from_secs(1_700_000_000 / 60 * 60 + 10);

    fn manual(limit: u32) -> (Limiter, ManualClock) {
        let clock = ManualClock::new(T0);
        let cfg = LimiterConfig { weight_per_minute: Some(limit), ..LimiterConfig::default() };
        (Limiter::with_clock(Market::UsdM, cfg, Arc::new(clock.clone())), clock)
    }

    #[test]
    fn budget_keeps_the_margin() {
        let l = Limiter::new(Market::UsdM, LimiterConfig::default());
        assert_eq!(l.budget(), 2160);
        let l = Limiter::new(Market::Spot, LimiterConfig::default());
        assert_eq!(l.budget(), 5400);
    }

    #[tokio::test]
    async fn waits_for_the_next_minute_boundary() {
        let (l, clock) = manual(100); // budget 90
        for _ in 0..9 {
            l.acquire(10, None).await.unwrap();
        }
        assert_eq!((l.used_weight(), l.waits(), clock.unix_now()), (90, 0, T0));
        l.acquire(10, None).await.unwrap();
        assert_eq!(clock.unix_now(), T0 + Duration::from_secs(50), "woke at hh:mm+1:00");
        assert_eq!((l.used_weight(), l.waits(), l.waited()), (10, 1, Duration::from_secs(50)));
        assert_eq!((l.peak_used_weight(), l.total_weight()), (90, 100));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_acquirers_never_exceed_the_budget() {
        let (l, clock) = manual(1000); // budget 900
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move {
                    for _ in 0..10 {
                        l.acquire(7, None).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        // 64 × 10 × 7 = 4480 weight needs at least 5 windows of 900: 4 boundaries crossed.
        assert!(clock.unix_now() >= T0 + Duration::from_secs(50 + 3 * 60), "{:?}", clock.unix_now() - T0);
        assert!(l.peak_used_weight() <= 900, "peak {}", l.peak_used_weight());
        assert_eq!(l.total_weight(), 4480);
    }

    #[tokio::test]
    async fn server_count_only_raises_ours() {
        let (l, clock) = manual(100);
        l.acquire(5, None).await.unwrap();
        l.observe_used_weight(80);
        assert_eq!(l.used_weight(), 80);
        l.observe_used_weight(20); // stale or lagging report: ignored within the window
        assert_eq!(l.used_weight(), 80);
        l.acquire(10, None).await.unwrap(); // 90 fits exactly
        assert_eq!(clock.unix_now(), T0);
        l.acquire(1, None).await.unwrap(); // 91 does not
        assert_eq!(clock.unix_now(), T0 + Duration::from_secs(50));
        assert_eq!((l.used_weight(), l.peak_used_weight()), (1, 90));
        l.observe_used_weight(300);
        assert_eq!(l.peak_used_weight(), 300);
    }

    #[tokio::test]
    async fn pause_delays_every_acquire() {
        let (l, clock) = manual(100);
        l.pause_for(Duration::from_secs(2));
        l.pause_for(Duration::from_secs(1)); // never shortens
        l.acquire(1, None).await.unwrap();
        assert_eq!(clock.unix_now(), T0 + Duration::from_secs(2));
        l.acquire(1, None).await.unwrap();
        assert_eq!((clock.unix_now(), l.waits()), (T0 + Duration::from_secs(2), 1));
    }

    #[tokio::test]
    async fn ban_stops_the_market_only() {
        let (usdm, _) = manual(100);
        let spot = Limiter::new(Market::Spot, LimiterConfig::default());
        usdm.ban(Duration::from_secs(120));
        let err = usdm.acquire(1, None).await.unwrap_err();
        assert!(matches!(err, Error::Banned { market: Market::UsdM, retry_after_secs: 120 }), "{err:?}");
        assert!(usdm.is_banned());
        spot.acquire(1, None).await.unwrap();
        assert_eq!(usdm.total_weight(), 0);
    }

    #[tokio::test]
    async fn bucket_counts_requests_in_a_sliding_window() {
        let (l, clock) = manual(2400);
        // FundingRate: 500 per 300 s, planned 450; weight 0 so only the bucket binds.
        for i in 0..450u64 {
            clock.advance(Duration::from_millis(if i == 0 { 0 } else { 100 }));
            l.acquire(0, Some(Bucket::FundingRate)).await.unwrap();
        }
        let last = clock.unix_now();
        assert_eq!(last, T0 + Duration::from_millis(44_900));
        l.acquire(0, Some(Bucket::FundingRate)).await.unwrap();
        assert_eq!(clock.unix_now(), T0 + Duration::from_secs(300), "oldest request expired");
        // Other buckets and plain weight are unaffected.
        l.acquire(0, Some(Bucket::FuturesData)).await.unwrap();
        assert_eq!((clock.unix_now(), l.waits()), (T0 + Duration::from_secs(300), 1));
    }

    #[tokio::test]
    async fn oversized_request_passes_in_an_empty_window() {
        let (l, clock) = manual(100);
        l.acquire(500, None).await.unwrap();
        assert_eq!(clock.unix_now(), T0);
        l.acquire(1, None).await.unwrap();
        assert_eq!(clock.unix_now(), T0 + Duration::from_secs(50));
    }
}
