//! Simulator settings, loadable from TOML (unknown keys rejected) and overridable by flags.

use std::{fmt, net::SocketAddr, path::PathBuf};

use serde::{Deserialize, Serialize};

use crate::{fault::FaultConfig, model::ModelConfig, replay::ReplayFile};

/// Everything the simulator can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Address to bind; port 0 picks a free one. Loopback by default: the simulator is for
    /// tests and demos and never needs to be reachable from elsewhere.
    pub bind: SocketAddr,
    /// Server time at start-up in ms since the epoch; `None` follows the wall clock, or starts
    /// just after the last replayed instant when `replay` is set.
    pub start_time_ms: Option<u64>,
    pub model: ModelConfig,
    pub limits: LimitsConfig,
    pub faults: FaultConfig,
    pub ws: WsConfig,
    /// The one account of the `USER_DATA` routes (`[user_data]`).
    pub user_data: UserDataConfig,
    /// Archive files served instead of the model (`[[replay]]` tables).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replay: Vec<ReplayFile>,
    /// A local mirror of the data.binance.vision site root, served under `/data/...`
    /// ([`crate::archive_tree`]); `None` serves no archive files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_dir: Option<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            start_time_ms: None,
            model: ModelConfig::default(),
            limits: LimitsConfig::default(),
            faults: FaultConfig::default(),
            ws: WsConfig::default(),
            user_data: UserDataConfig::default(),
            replay: Vec::new(),
            archive_dir: None,
        }
    }
}

impl SimConfig {
    /// Parses a TOML document.
    ///
    /// # Errors
    /// A message naming the offending key (unknown keys are rejected).
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}

/// Binance's per-IP limits; the defaults are the production ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub enabled: bool,
    pub spot_weight_per_minute: u32,
    pub usdm_weight_per_minute: u32,
    /// Length of a weight window. Binance uses 60 s; tests shrink it to keep 429 waits short.
    pub window_ms: u64,
    /// Requests per 5 minutes on `/fapi/v1/fundingRate` + `/fapi/v1/fundingInfo`.
    pub funding_requests_per_5m: u32,
    /// Requests per 5 minutes on `/futures/data/*`.
    pub futures_data_requests_per_5m: u32,
    /// Requests answered 429 within one window after which the IP is banned (HTTP 418).
    pub ban_after_429s: u32,
    /// Length of a ban. Binance escalates from 2 minutes to 3 days.
    pub ban_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            spot_weight_per_minute: 6000,
            usdm_weight_per_minute: 2400,
            window_ms: 60_000,
            funding_requests_per_5m: 500,
            futures_data_requests_per_5m: 1000,
            ban_after_429s: 5,
            ban_secs: 120,
        }
    }
}

/// The simulated account behind the `USER_DATA` routes (`GET /fapi/v1/leverageBracket`): a
/// request must carry this key in `X-MBX-APIKEY` and be signed with this secret.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserDataConfig {
    /// [default: [`UserDataConfig::DEFAULT_API_KEY`]]
    pub api_key: String,
    /// [default: [`UserDataConfig::DEFAULT_API_SECRET`]]
    pub api_secret: String,
}

impl UserDataConfig {
    /// The test key: `API_KEY=alphalab-sim-key` talks to a simulator with default settings.
    pub const DEFAULT_API_KEY: &str = "alphalab-sim-key";
    /// The test secret: `API_SECRET=alphalab-sim-secret`. Public on purpose: the simulator
    /// holds no account worth protecting.
    pub const DEFAULT_API_SECRET: &str = "alphalab-sim-secret";
}

impl Default for UserDataConfig {
    fn default() -> Self {
        Self { api_key: Self::DEFAULT_API_KEY.into(), api_secret: Self::DEFAULT_API_SECRET.into() }
    }
}

impl fmt::Debug for UserDataConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserDataConfig").field("api_key", &self.api_key).field("api_secret", &"<redacted>").finish()
    }
}

/// WebSocket behaviour.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WsConfig {
    /// How often queued events are pushed to each connection.
    pub tick_ms: u64,
    /// Server ping period (Binance: every 20 s spot, 3 min futures).
    pub ping_interval_ms: u64,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self { tick_ms: 100, ping_interval_ms: 20_000 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err = SimConfig::from_toml("[limits]\nspot_weigth_per_minute = 10\n").unwrap_err();
        assert!(err.to_string().contains("spot_weigth_per_minute"), "{err}");
    }

    #[test]
    fn partial_file_keeps_defaults() {
        let cfg = SimConfig::from_toml("start_time_ms = 1700000000000\n[limits]\nwindow_ms = 1000\n").unwrap();
        assert_eq!(cfg.start_time_ms, Some(1_700_000_000_000));
        assert_eq!(cfg.limits.window_ms, 1000);
        assert_eq!(cfg.limits.spot_weight_per_minute, 6000);
    }

    #[test]
    fn user_data_account_has_test_defaults_and_hides_its_secret() {
        let cfg = SimConfig::from_toml("[user_data]\napi_secret = \"s3cr3t\"\n").unwrap();
        assert_eq!(cfg.user_data.api_key, "alphalab-sim-key");
        assert_eq!(cfg.user_data.api_secret, "s3cr3t");
        assert!(!format!("{cfg:?}").contains("s3cr3t"));
        assert_eq!(SimConfig::default().user_data.api_secret, "alphalab-sim-secret");
        let err = SimConfig::from_toml("[user_data]\napi_sekret = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("api_sekret"), "{err}");
    }

    #[test]
    fn universe_and_symbol_keys_parse_and_unknown_ones_are_rejected() {
        let cfg = SimConfig::from_toml(
            "[model.universe]\nsize = 12\nlisted_share = 0.0\nbeta = [0.9, 1.1]\n\n\
             [[model.symbols]]\nsymbol = \"BTCUSDT\"\ninitial_price = 60000\ndelisted_ms = 1717200000000\n",
        )
        .unwrap();
        let m = &cfg.model;
        assert_eq!((m.universe.size, m.universe.listed_share, m.universe.beta), (12, 0.0, [0.9, 1.1]));
        assert_eq!(m.universe.sectors, 5, "defaults for the rest");
        assert_eq!((m.symbols[0].initial_price, m.symbols[0].delisted_ms), (60_000.0, Some(1_717_200_000_000)));
        let err = SimConfig::from_toml("[model.universe]\nsise = 12\n").unwrap_err();
        assert!(err.to_string().contains("sise"), "{err}");
    }

    #[test]
    fn replay_tables() {
        let cfg = SimConfig::from_toml(
            "[[replay]]\npath = \"a/ADABTC-1m-2021-11-27.csv\"\nmarket = \"spot\"\nkind = \"klines\"\n\n\
             [[replay]]\npath = \"b.zip\"\nmarket = \"usdm\"\nkind = \"agg_trades\"\nsymbol = \"BTCUSDT\"\n",
        )
        .unwrap();
        assert_eq!(cfg.replay.len(), 2);
        assert_eq!(cfg.replay[0].resolved_symbol().unwrap(), "ADABTC");
        assert_eq!(cfg.replay[0].resolved_interval().unwrap(), ("1m".to_string(), 60_000));
        assert_eq!(cfg.replay[1].market, binance::Market::UsdM);
        assert_eq!(cfg.replay[1].kind, crate::ReplayKind::AggTrades);
        let err =
            SimConfig::from_toml("[[replay]]\npath = \"x.csv\"\nmarket = \"spot\"\nkind = \"klines\"\nsymbl = \"X\"\n")
                .unwrap_err();
        assert!(err.to_string().contains("symbl"), "{err}");
    }
}
