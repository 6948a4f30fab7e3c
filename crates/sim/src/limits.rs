//! Binance's per-IP request limits as the simulator enforces them: request weight per market
//! in fixed windows, the USD-M 5-minute request buckets, 429 with `Retry-After`, and a 418 ban
//! after repeated violations.

use std::{collections::HashMap, net::IpAddr, sync::Mutex};

use binance::{Market, endpoint::Bucket};

use crate::config::LimitsConfig;

/// Verdict for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Served; `used` is the window's weight including this request.
    Ok { used: u32 },
    /// HTTP 429: over the limit; retry after the given seconds.
    TooMany { used: u32, retry_after_secs: u64 },
    /// HTTP 418: banned until `until_ms`.
    Banned { used: u32, until_ms: u64, retry_after_secs: u64 },
}

#[derive(Debug, Default)]
struct Meter {
    window: u64,
    used: u32,
    violations: u32,
    banned_until_ms: u64,
    buckets: HashMap<Bucket, (u64, u32)>,
    peak: u32,
}

/// Per (IP, market) meters.
#[derive(Debug)]
pub struct Limits {
    cfg: LimitsConfig,
    meters: Mutex<HashMap<(IpAddr, Market), Meter>>,
}

impl Limits {
    #[must_use]
    pub fn new(cfg: LimitsConfig) -> Self {
        Self { cfg, meters: Mutex::new(HashMap::new()) }
    }

    fn per_window(&self, market: Market) -> u32 {
        match market {
            Market::Spot => self.cfg.spot_weight_per_minute,
            Market::UsdM => self.cfg.usdm_weight_per_minute,
        }
    }

    fn bucket_limit(&self, bucket: Bucket) -> u32 {
        match bucket {
            Bucket::FundingRate => self.cfg.funding_requests_per_5m,
            Bucket::FuturesData => self.cfg.futures_data_requests_per_5m,
        }
    }

    /// Charges `weight` (and one request of `bucket`) to `ip` at server time `now_ms`.
    /// Binance charges rejected requests too, so a client hammering past the limit stays over it.
    pub fn admit(&self, ip: IpAddr, market: Market, weight: u32, bucket: Option<Bucket>, now_ms: u64) -> Admission {
        let mut meters = self.meters.lock().expect("limits mutex");
        let m = meters.entry((ip, market)).or_default();
        let window_ms = self.cfg.window_ms.max(1);
        let window = now_ms / window_ms;
        if m.window != window {
            m.window = window;
            m.used = 0;
            m.violations = 0;
        }
        m.used = m.used.saturating_add(weight);
        m.peak = m.peak.max(m.used);
        let used = m.used;
        if !self.cfg.enabled {
            return Admission::Ok { used };
        }
        if now_ms < m.banned_until_ms {
            return Admission::Banned {
                used,
                until_ms: m.banned_until_ms,
                retry_after_secs: (m.banned_until_ms - now_ms).div_ceil(1000),
            };
        }
        let to_next = (window + 1) * window_ms - now_ms;
        let mut over = used > self.per_window(market);
        let mut retry_ms = to_next;
        if let Some(b) = bucket {
            let span = b.limit().1 * 1000 * window_ms / 60_000;
            let w5 = now_ms / span.max(1);
            let entry = m.buckets.entry(b).or_insert((w5, 0));
            if entry.0 != w5 {
                *entry = (w5, 0);
            }
            entry.1 += 1;
            if entry.1 > self.bucket_limit(b) {
                over = true;
                retry_ms = retry_ms.max((w5 + 1) * span - now_ms);
            }
        }
        if !over {
            return Admission::Ok { used };
        }
        m.violations += 1;
        if m.violations > self.cfg.ban_after_429s {
            m.banned_until_ms = now_ms + self.cfg.ban_secs * 1000;
            return Admission::Banned { used, until_ms: m.banned_until_ms, retry_after_secs: self.cfg.ban_secs };
        }
        Admission::TooMany { used, retry_after_secs: retry_ms.div_ceil(1000).max(1) }
    }

    /// Highest weight any IP reached in one window of `market`, for benchmarks and tests.
    #[must_use]
    pub fn peak(&self, market: Market) -> u32 {
        let meters = self.meters.lock().expect("limits mutex");
        meters.iter().filter(|((_, mk), _)| *mk == market).map(|(_, m)| m.peak).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn limits(per_min: u32, ban_after: u32) -> Limits {
        Limits::new(LimitsConfig {
            spot_weight_per_minute: per_min,
            usdm_weight_per_minute: per_min,
            ban_after_429s: ban_after,
            ..LimitsConfig::default()
        })
    }

    #[test]
    fn weight_accumulates_and_resets_each_window() {
        let l = limits(10, 5);
        assert_eq!(l.admit(IP, Market::Spot, 4, None, 1_000), Admission::Ok { used: 4 });
        assert_eq!(l.admit(IP, Market::Spot, 6, None, 59_000), Admission::Ok { used: 10 });
        assert_eq!(l.admit(IP, Market::Spot, 1, None, 59_500), Admission::TooMany { used: 11, retry_after_secs: 1 });
        assert_eq!(l.admit(IP, Market::Spot, 1, None, 60_000), Admission::Ok { used: 1 });
        assert_eq!(l.peak(Market::Spot), 11);
    }

    #[test]
    fn markets_are_metered_separately() {
        let l = limits(5, 5);
        assert_eq!(l.admit(IP, Market::Spot, 5, None, 0), Admission::Ok { used: 5 });
        assert_eq!(l.admit(IP, Market::UsdM, 5, None, 0), Admission::Ok { used: 5 });
    }

    #[test]
    fn repeated_violations_ban_the_ip() {
        let l = limits(1, 2);
        assert_eq!(l.admit(IP, Market::Spot, 1, None, 0), Admission::Ok { used: 1 });
        assert!(matches!(l.admit(IP, Market::Spot, 1, None, 1), Admission::TooMany { .. }));
        assert!(matches!(l.admit(IP, Market::Spot, 1, None, 2), Admission::TooMany { .. }));
        assert_eq!(
            l.admit(IP, Market::Spot, 1, None, 3),
            Admission::Banned { used: 4, until_ms: 120_003, retry_after_secs: 120 }
        );
        // Still banned in the next window, released after the ban.
        assert!(matches!(l.admit(IP, Market::Spot, 1, None, 61_000), Admission::Banned { .. }));
        assert_eq!(l.admit(IP, Market::Spot, 1, None, 121_000), Admission::Ok { used: 1 });
    }

    #[test]
    fn futures_data_bucket_counts_requests_over_five_minutes() {
        let l = Limits::new(LimitsConfig { futures_data_requests_per_5m: 2, ..LimitsConfig::default() });
        let b = Some(Bucket::FuturesData);
        assert_eq!(l.admit(IP, Market::UsdM, 0, b, 0), Admission::Ok { used: 0 });
        assert_eq!(l.admit(IP, Market::UsdM, 0, b, 70_000), Admission::Ok { used: 0 });
        assert_eq!(l.admit(IP, Market::UsdM, 0, b, 130_000), Admission::TooMany { used: 0, retry_after_secs: 170 });
        assert_eq!(l.admit(IP, Market::UsdM, 0, b, 300_000), Admission::Ok { used: 0 });
    }
}
