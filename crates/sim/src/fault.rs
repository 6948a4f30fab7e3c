//! Fault injection, deterministic per seed: the same configuration and request sequence per
//! endpoint produce the same faults, so a failing client test can be replayed exactly.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};

/// Faults to inject. Empty by default: a clean Binance.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Seed of the fault draws (independent of the market model's seed).
    pub seed: u64,
    /// Added to every REST response.
    pub latency_ms: u64,
    /// Uniform extra latency in `[0, jitter_ms]`.
    pub jitter_ms: u64,
    /// Per-endpoint faults, applied in order; the first matching rule that fires wins.
    pub rules: Vec<FaultRule>,
    /// Drop every WebSocket connection this long after it opened ...
    pub ws_drop_after_ms: Option<u64>,
    /// ... but only the first this many connections of the server's life (default: all).
    pub ws_drop_times: Option<u32>,
    /// Stop sending on a WebSocket (without closing) this long after it opened ...
    pub ws_stall_after_ms: Option<u64>,
    /// ... for this long.
    pub ws_stall_ms: u64,
    /// Leave out one diff-depth event (`@depth@100ms`) this long after a WebSocket opened, as a
    /// lost message would: the next event's `U` (spot) / `pu` (USD-M) no longer follows the
    /// previous `u`, which a client must detect and resynchronise from ...
    pub ws_skip_depth_after_ms: Option<u64>,
    /// ... on the first this many connections (default: all).
    pub ws_skip_depth_times: Option<u32>,
}

/// One fault on the endpoints it matches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawRule", into = "RawRule")]
pub struct FaultRule {
    /// `spot/klines`, `futures/open_interest_hist`, a REST path, `spot/*`, `futures/*` or `*`.
    pub endpoint: String,
    pub action: FaultAction,
    /// Fire only for the first `times` matching requests (default: always).
    pub times: Option<u32>,
    /// Fire with this probability (default 1).
    pub probability: Option<f64>,
}

/// What a fault does to the response.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer with this HTTP status and Binance error body.
    Status { status: u16, code: i32, msg: String },
    /// 429 with `Retry-After`.
    TooMany { retry_after_secs: u64 },
    /// 418 with `Retry-After`.
    Ban { retry_after_secs: u64 },
    /// Cut the body in half (invalid JSON).
    Truncate,
    /// Replace the body with non-JSON bytes.
    Malformed,
    /// Hold the response this long (longer than a client timeout = a timeout).
    Delay { ms: u64 },
}

/// The flat TOML form of a rule: `action = "status"` plus the fields that action takes.
/// (serde cannot combine `flatten` with `deny_unknown_fields`, so the rule goes through this.)
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    endpoint: String,
    action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    msg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    times: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probability: Option<f64>,
}

impl TryFrom<RawRule> for FaultRule {
    type Error = String;

    fn try_from(r: RawRule) -> Result<Self, String> {
        let need = |v: Option<u64>, key: &str| v.ok_or_else(|| format!("fault action {:?} needs `{key}`", r.action));
        let action = match r.action.as_str() {
            "status" => FaultAction::Status {
                status: need(r.status.map(u64::from), "status")? as u16,
                code: r.code.unwrap_or_else(default_code),
                msg: r.msg.clone().unwrap_or_else(default_msg),
            },
            "too_many" => FaultAction::TooMany { retry_after_secs: need(r.retry_after_secs, "retry_after_secs")? },
            "ban" => FaultAction::Ban { retry_after_secs: need(r.retry_after_secs, "retry_after_secs")? },
            "truncate" => FaultAction::Truncate,
            "malformed" => FaultAction::Malformed,
            "delay" => FaultAction::Delay { ms: need(r.ms, "ms")? },
            other => {
                return Err(format!(
                    "unknown fault action {other:?}: expected status, too_many, ban, truncate, malformed or delay"
                ));
            }
        };
        Ok(FaultRule { endpoint: r.endpoint, action, times: r.times, probability: r.probability })
    }
}

impl From<FaultRule> for RawRule {
    fn from(f: FaultRule) -> Self {
        let mut r = RawRule { endpoint: f.endpoint, times: f.times, probability: f.probability, ..RawRule::default() };
        r.action = match f.action {
            FaultAction::Status { status, code, msg } => {
                (r.status, r.code, r.msg) = (Some(status), Some(code), Some(msg));
                "status"
            }
            FaultAction::TooMany { retry_after_secs } => {
                r.retry_after_secs = Some(retry_after_secs);
                "too_many"
            }
            FaultAction::Ban { retry_after_secs } => {
                r.retry_after_secs = Some(retry_after_secs);
                "ban"
            }
            FaultAction::Truncate => "truncate",
            FaultAction::Malformed => "malformed",
            FaultAction::Delay { ms } => {
                r.ms = Some(ms);
                "delay"
            }
        }
        .to_string();
        r
    }
}

fn default_code() -> i32 {
    -1000
}
fn default_msg() -> String {
    "An unknown error occurred while processing the request.".into()
}

/// Fault state: how many times each rule has matched, and the WebSocket faults used so far.
#[derive(Debug)]
pub struct Faults {
    cfg: FaultConfig,
    counts: Mutex<HashMap<(usize, String), u32>>,
    ws_drops: AtomicU32,
    ws_skips: AtomicU32,
}

/// Uniform draw in [0, 1) from (seed, key, n, salt): FNV-1a then a splitmix64 finaliser, stable
/// across Rust versions (unlike `DefaultHasher`).
fn draw(seed: u64, key: &str, n: u32, salt: u8) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in key.bytes().chain(n.to_le_bytes()).chain([salt]) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

impl Faults {
    #[must_use]
    pub fn new(cfg: FaultConfig) -> Self {
        Self { cfg, counts: Mutex::new(HashMap::new()), ws_drops: AtomicU32::new(0), ws_skips: AtomicU32::new(0) }
    }

    /// Whether a connection that reached `ws_drop_after_ms` is dropped (counts it if so).
    pub fn take_ws_drop(&self) -> bool {
        take(&self.ws_drops, self.cfg.ws_drop_times)
    }

    /// Whether a connection that reached `ws_skip_depth_after_ms` skips its depth event (counts
    /// it if so).
    pub fn take_ws_skip(&self) -> bool {
        take(&self.ws_skips, self.cfg.ws_skip_depth_times)
    }

    #[must_use]
    pub fn config(&self) -> &FaultConfig {
        &self.cfg
    }

    /// The fault to apply to the next request of endpoint `id` (`spot/klines`) at `path`.
    pub fn next(&self, id: &str, path: &str) -> Option<FaultAction> {
        let mut counts = self.counts.lock().expect("faults mutex");
        for (i, rule) in self.cfg.rules.iter().enumerate() {
            if !matches(&rule.endpoint, id, path) {
                continue;
            }
            let n = counts.entry((i, id.to_string())).or_insert(0);
            *n += 1;
            if rule.times.is_some_and(|t| *n > t) {
                continue;
            }
            if rule.probability.is_some_and(|p| draw(self.cfg.seed, id, *n, 1) >= p) {
                continue;
            }
            return Some(rule.action.clone());
        }
        None
    }

    /// Latency to add to the `n`-th response of endpoint `id`.
    #[must_use]
    pub fn latency(&self, id: &str, n: u64) -> Duration {
        let jitter = if self.cfg.jitter_ms == 0 {
            0
        } else {
            (draw(self.cfg.seed, id, n as u32, 2) * (self.cfg.jitter_ms + 1) as f64) as u64
        };
        Duration::from_millis(self.cfg.latency_ms + jitter)
    }
}

/// Uses one of `times` (unlimited when `None`).
fn take(used: &AtomicU32, times: Option<u32>) -> bool {
    let n = used.fetch_add(1, Ordering::Relaxed);
    times.is_none_or(|t| n < t)
}

fn matches(pattern: &str, id: &str, path: &str) -> bool {
    match pattern.strip_suffix("/*") {
        _ if pattern == "*" => true,
        Some(prefix) => id.split('/').next() == Some(prefix),
        None => pattern == id || pattern == path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(toml_rules: &str) -> Faults {
        let cfg: FaultConfig = toml::from_str(toml_rules).unwrap();
        Faults::new(cfg)
    }

    #[test]
    fn times_limits_a_rule_to_the_first_requests() {
        let f =
            faults("[[rules]]\nendpoint = \"spot/klines\"\naction = \"too_many\"\nretry_after_secs = 1\ntimes = 1\n");
        assert_eq!(f.next("spot/klines", "/api/v3/klines"), Some(FaultAction::TooMany { retry_after_secs: 1 }));
        assert_eq!(f.next("spot/klines", "/api/v3/klines"), None);
        assert_eq!(f.next("spot/depth", "/api/v3/depth"), None);
    }

    #[test]
    fn market_wildcards_and_paths_match() {
        assert!(matches("futures/*", "futures/depth", "/fapi/v1/depth"));
        assert!(!matches("futures/*", "spot/depth", "/api/v3/depth"));
        assert!(matches("/fapi/v1/depth", "futures/depth", "/fapi/v1/depth"));
        assert!(matches("*", "spot/ping", "/api/v3/ping"));
    }

    #[test]
    fn probability_draws_are_deterministic_per_seed() {
        let rules = "seed = 7\n[[rules]]\nendpoint = \"*\"\naction = \"truncate\"\nprobability = 0.5\n";
        let seq = |f: &Faults| (0..64).map(|_| f.next("spot/ping", "/api/v3/ping").is_some()).collect::<Vec<_>>();
        let a = seq(&faults(rules));
        assert_eq!(a, seq(&faults(rules)));
        let fired = a.iter().filter(|x| **x).count();
        assert!((16..=48).contains(&fired), "fired {fired} of 64");
    }

    #[test]
    fn websocket_faults_fire_the_configured_number_of_times() {
        let f = faults("ws_drop_after_ms = 100\nws_drop_times = 1\nws_skip_depth_after_ms = 50\n");
        assert_eq!((f.take_ws_drop(), f.take_ws_drop()), (true, false));
        assert!((0..5).all(|_| f.take_ws_skip()), "no limit: every connection");
    }

    #[test]
    fn unknown_rule_key_is_rejected() {
        let err = toml::from_str::<FaultConfig>("[[rules]]\nendpoint = \"*\"\naction = \"truncate\"\ntimez = 1\n")
            .unwrap_err();
        assert!(err.to_string().contains("timez"), "{err}");
    }

    #[test]
    fn status_rule_defaults_its_binance_body() {
        let f = faults("[[rules]]\nendpoint = \"*\"\naction = \"status\"\nstatus = 503\n");
        assert_eq!(
            f.next("spot/ping", "/api/v3/ping"),
            Some(FaultAction::Status { status: 503, code: -1000, msg: default_msg() })
        );
    }

    #[test]
    fn unknown_action_is_rejected() {
        let err = toml::from_str::<FaultConfig>("[[rules]]\nendpoint = \"*\"\naction = \"explode\"\n").unwrap_err();
        assert!(err.to_string().contains("explode"), "{err}");
    }
}
