//! Snapshot settings: the legacy environment variables, with CLI flags above them and an
//! optional TOML file below them (flag > env > file > default). Unknown file keys are rejected.
//! `alphalab brackets` takes the same connection settings ([`BracketsArgs`]).

use std::{fmt, path::PathBuf};

use binance::stream::Window;
use serde::Deserialize;

/// A secret that never prints.
#[derive(Clone, Default)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "<unset>" } else { "<redacted>" })
    }
}

/// So clap can hold a flag or variable as a `Secret` from the start.
impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_string()))
    }
}

/// One layer of snapshot settings. Clap fills it from flags and the legacy environment
/// variables; serde fills it from the `[snapshot]` table of a TOML file.
#[derive(Debug, Clone, Default, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotArgs {
    /// Spot symbol for every spot call and the WebSocket [default: BTCUSDT]
    #[arg(long, env = "SPOT_SYMBOL")]
    pub spot_symbol: Option<String>,
    /// USD-M symbol for futures calls that take `symbol` [default: BTCUSDT]
    #[arg(long, env = "FUTURES_SYMBOL")]
    pub futures_symbol: Option<String>,
    /// USD-M pair for continuous / index klines and delivery price [default: BTCUSDT]
    #[arg(long, env = "FUTURES_PAIR")]
    pub futures_pair: Option<String>,
    /// PERPETUAL, CURRENT_QUARTER or NEXT_QUARTER [default: PERPETUAL]
    #[arg(long, env = "CONTINUOUS_CONTRACT_TYPE")]
    pub continuous_contract_type: Option<String>,
    /// Composite index for indexInfo; an unknown one falls back to the full list [default: none]
    #[arg(long, env = "COMPOSITE_INDEX_SYMBOL")]
    pub composite_index_symbol: Option<String>,
    /// Rows of every kline call, 1..=1500 (spot serves at most 1000) [default: 1000]
    #[arg(long, env = "KLINE_LIMIT")]
    #[serde(default, deserialize_with = "scalar")]
    pub kline_limit: Option<String>,
    /// Rows of funding rate history, 1..=1000 [default: 500]
    #[arg(long, env = "FUNDING_LIMIT")]
    #[serde(default, deserialize_with = "scalar")]
    pub funding_limit: Option<String>,
    /// Rows of open interest history and the ratio series, 1..=500 [default: 500]
    #[arg(long, env = "METRIC_LIMIT")]
    #[serde(default, deserialize_with = "scalar")]
    pub metric_limit: Option<String>,
    /// Depth / trades / aggTrades rows, 1..=1000 [default: 1000]
    #[arg(long, env = "TRADE_LIMIT")]
    #[serde(default, deserialize_with = "scalar")]
    pub trade_limit: Option<String>,
    /// WebSocket capture length in seconds, 0..=86400 [default: 30]
    #[arg(long, env = "WS_CAPTURE_SECONDS")]
    #[serde(default, deserialize_with = "scalar")]
    pub ws_capture_seconds: Option<String>,
    /// Rolling window: 1h, 4h, 1d (or WINDOW_SIZE_4h) [default: 4h]
    #[arg(long, env = "WS_WINDOW_SIZE")]
    pub ws_window_size: Option<String>,
    /// Output folder [default: outputs]
    #[arg(long, env = "OUTPUT_DIR")]
    pub output_dir: Option<PathBuf>,
    /// Terminal log level: OFF, ERROR, WARN, INFO, DEBUG, TRACE [default: WARN; the full log is OUTPUT_DIR/alphalab.log]
    #[arg(long, env = "LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Spot REST base URL [default: https://api.binance.com]
    #[arg(long, env = "BASE_PATH_SPOT")]
    pub base_path_spot: Option<String>,
    /// USD-M REST base URL [default: https://fapi.binance.com]
    #[arg(long, env = "BASE_PATH_FUTURES")]
    pub base_path_futures: Option<String>,
    /// Spot WebSocket base URL [default: wss://stream.binance.com:9443]
    #[arg(long, env = "STREAM_URL_SPOT")]
    pub stream_url_spot: Option<String>,
    /// REST requests in flight at once, 1..=64 [default: 40: the whole snapshot in one wave; the weight limiter still paces it]
    #[arg(long, env = "ALPHALAB_CONCURRENCY")]
    #[serde(default, deserialize_with = "scalar")]
    pub concurrency: Option<String>,
    /// Per-request timeout in seconds [default: 10]
    #[arg(long, env = "ALPHALAB_TIMEOUT_SECS")]
    #[serde(default, deserialize_with = "scalar")]
    pub timeout_secs: Option<String>,
    /// Retries of 5xx / timeouts / malformed bodies [default: 3]
    #[arg(long, env = "ALPHALAB_MAX_RETRIES")]
    #[serde(default, deserialize_with = "scalar")]
    pub max_retries: Option<String>,
    /// Fraction of each weight limit never planned for, 0..0.9 [default: 0.1]
    #[arg(long, env = "ALPHALAB_WEIGHT_MARGIN")]
    #[serde(default, deserialize_with = "scalar")]
    pub weight_margin: Option<String>,
    /// API key (none of the 41 payloads needs it; `alphalab brackets` does); never logged or written
    #[arg(long, env = "API_KEY", hide_env_values = true)]
    #[serde(skip)]
    pub api_key: Option<String>,
    /// API secret (no snapshot payload is signed; `alphalab brackets` signs with it); never logged or written
    #[arg(long, env = "API_SECRET", hide_env_values = true)]
    #[serde(skip)]
    pub api_secret: Option<String>,
}

/// TOML numbers and strings alike, so `kline_limit = 500` and `kline_limit = "500"` both work
/// and go through the same validation as the environment variable.
fn scalar<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        I(i64),
        F(f64),
    }
    Ok(Some(match Scalar::deserialize(d)? {
        Scalar::S(s) => s,
        Scalar::I(i) => i.to_string(),
        Scalar::F(f) => f.to_string(),
    }))
}

macro_rules! merge_fields {
    ($hi:expr, $lo:expr; $($f:ident),* $(,)?) => {{
        let (hi, lo) = ($hi, $lo);
        SnapshotArgs { $($f: hi.$f.or(lo.$f)),* }
    }};
}

/// The `[snapshot]` table of a settings file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsFile {
    #[serde(default)]
    pub snapshot: SnapshotArgs,
}

impl SettingsFile {
    /// Reads a TOML settings file.
    ///
    /// # Errors
    /// The file name and the TOML error (which names an unknown key).
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Resolved, validated snapshot settings.
#[derive(Debug, Clone)]
pub struct SnapshotConfig {
    pub spot_symbol: String,
    pub futures_symbol: String,
    pub futures_pair: String,
    pub continuous_contract_type: String,
    pub composite_index_symbol: Option<String>,
    pub kline_limit: u32,
    pub funding_limit: u32,
    pub metric_limit: u32,
    pub trade_limit: u32,
    pub ws_capture_seconds: u64,
    pub ws_window: Window,
    pub output_dir: PathBuf,
    /// The terminal's log level when set (default: warnings only; the full log is in
    /// `OUTPUT_DIR/alphalab.log`).
    pub log_level: Option<String>,
    pub base_path_spot: String,
    pub base_path_futures: String,
    pub stream_url_spot: String,
    pub concurrency: usize,
    pub timeout_secs: f64,
    pub max_retries: u32,
    pub weight_margin: f64,
    pub api_key: Option<Secret>,
    /// Signs `USER_DATA` requests (`alphalab brackets`).
    pub api_secret: Option<Secret>,
}

fn num<T: std::str::FromStr + PartialOrd + fmt::Display + Copy>(
    value: Option<&str>,
    var: &str,
    default: T,
    lo: T,
    hi: T,
) -> Result<T, String> {
    let Some(v) = value.map(str::trim) else { return Ok(default) };
    match v.parse::<T>() {
        Ok(x) if x >= lo && x <= hi => Ok(x),
        _ => Err(format!("{var}={v:?} is invalid: allowed values are {lo}..={hi}")),
    }
}

fn symbol(value: Option<String>, var: &str) -> Result<String, String> {
    let s = value.unwrap_or_else(|| "BTCUSDT".into()).trim().to_ascii_uppercase();
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("{var}={s:?} is invalid: allowed values are 1-20 letters and digits, e.g. BTCUSDT"));
    }
    Ok(s)
}

impl SnapshotArgs {
    /// Field-by-field: `self` wins over `lower`.
    #[must_use]
    pub fn or(self, lower: SnapshotArgs) -> SnapshotArgs {
        merge_fields!(self, lower;
            spot_symbol, futures_symbol, futures_pair, continuous_contract_type,
            composite_index_symbol, kline_limit, funding_limit, metric_limit, trade_limit,
            ws_capture_seconds, ws_window_size, output_dir, log_level, base_path_spot,
            base_path_futures, stream_url_spot, concurrency, timeout_secs, max_retries,
            weight_margin, api_key, api_secret)
    }

    /// Applies defaults and checks every value.
    ///
    /// # Errors
    /// A message naming the variable and its allowed values.
    pub fn resolve(self) -> Result<SnapshotConfig, String> {
        use binance::{Market, endpoint::CONTRACT_TYPES, stream::prod_stream_url};
        let contract = self.continuous_contract_type.unwrap_or_else(|| "PERPETUAL".into()).trim().to_ascii_uppercase();
        if !CONTRACT_TYPES.contains(&contract.as_str()) {
            return Err(format!(
                "CONTINUOUS_CONTRACT_TYPE={contract:?} is invalid: allowed values are {}",
                CONTRACT_TYPES.join(", ")
            ));
        }
        let window = match self.ws_window_size.as_deref() {
            None => Window::H4,
            Some(w) => Window::parse(w).ok_or_else(|| {
                format!("WS_WINDOW_SIZE={w:?} is invalid: allowed values are 1h, 4h, 1d (or WINDOW_SIZE_1h, ...)")
            })?,
        };
        let log_level = self.log_level;
        if let Some(l) = &log_level {
            crate::logging::level_name(l)?;
        }
        let composite = self.composite_index_symbol.map(|s| s.trim().to_ascii_uppercase()).filter(|s| !s.is_empty());
        let url = |v: Option<String>, var: &str, default: &str| -> Result<String, String> {
            let u = v.unwrap_or_else(|| default.to_string()).trim().trim_end_matches('/').to_string();
            let ok = ["http://", "https://", "ws://", "wss://"].iter().any(|p| u.starts_with(p));
            if ok { Ok(u) } else { Err(format!("{var}={u:?} is invalid: expected an http(s):// or ws(s):// URL")) }
        };
        Ok(SnapshotConfig {
            spot_symbol: symbol(self.spot_symbol, "SPOT_SYMBOL")?,
            futures_symbol: symbol(self.futures_symbol, "FUTURES_SYMBOL")?,
            futures_pair: symbol(self.futures_pair, "FUTURES_PAIR")?,
            continuous_contract_type: contract,
            composite_index_symbol: composite,
            kline_limit: num(self.kline_limit.as_deref(), "KLINE_LIMIT", 1000, 1, 1500)?,
            funding_limit: num(self.funding_limit.as_deref(), "FUNDING_LIMIT", 500, 1, 1000)?,
            metric_limit: num(self.metric_limit.as_deref(), "METRIC_LIMIT", 500, 1, 500)?,
            trade_limit: num(self.trade_limit.as_deref(), "TRADE_LIMIT", 1000, 1, 1000)?,
            ws_capture_seconds: num(self.ws_capture_seconds.as_deref(), "WS_CAPTURE_SECONDS", 30, 0, 86_400)?,
            ws_window: window,
            output_dir: self.output_dir.unwrap_or_else(|| PathBuf::from("outputs")),
            log_level,
            base_path_spot: url(self.base_path_spot, "BASE_PATH_SPOT", Market::Spot.prod_rest_url())?,
            base_path_futures: url(self.base_path_futures, "BASE_PATH_FUTURES", Market::UsdM.prod_rest_url())?,
            stream_url_spot: url(self.stream_url_spot, "STREAM_URL_SPOT", prod_stream_url(Market::Spot))?,
            concurrency: num(self.concurrency.as_deref(), "ALPHALAB_CONCURRENCY", 40, 1, 64)?,
            timeout_secs: num(self.timeout_secs.as_deref(), "ALPHALAB_TIMEOUT_SECS", 10.0, 0.1, 600.0)?,
            max_retries: num(self.max_retries.as_deref(), "ALPHALAB_MAX_RETRIES", 3, 0, 10)?,
            weight_margin: num(self.weight_margin.as_deref(), "ALPHALAB_WEIGHT_MARGIN", 0.1, 0.0, 0.9)?,
            api_key: self.api_key.filter(|k| !k.is_empty()).map(Secret),
            api_secret: self.api_secret.filter(|k| !k.is_empty()).map(Secret),
        })
    }
}

/// `alphalab brackets`: what to fetch and where to write it, plus the snapshot's connection
/// settings (the same flags, variables and `[snapshot]` keys, resolved by the same rules).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BracketsArgs {
    /// One USD-M symbol, e.g. BTCUSDT [default: every symbol of the account]
    #[arg(long)]
    pub symbol: Option<String>,
    /// File to write the response to [default: OUTPUT_DIR/futures/leverage_brackets.json]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Output folder [default: outputs]
    #[arg(long, env = "OUTPUT_DIR")]
    pub output_dir: Option<PathBuf>,
    /// USD-M REST base URL [default: https://fapi.binance.com]
    #[arg(long, env = "BASE_PATH_FUTURES")]
    pub base_path_futures: Option<String>,
    /// Terminal log level: OFF, ERROR, WARN, INFO, DEBUG, TRACE [default: WARN; the full log is alphalab.log beside the output file]
    #[arg(long, env = "LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Per-request timeout in seconds [default: 10]
    #[arg(long, env = "ALPHALAB_TIMEOUT_SECS")]
    pub timeout_secs: Option<String>,
    /// Retries of 5xx / timeouts / malformed bodies [default: 3]
    #[arg(long, env = "ALPHALAB_MAX_RETRIES")]
    pub max_retries: Option<String>,
    /// API key, sent as X-MBX-APIKEY (the endpoint is USER_DATA); never logged or written
    #[arg(long, env = "API_KEY", hide_env_values = true)]
    pub api_key: Option<Secret>,
    /// API secret: signs the request (HMAC-SHA256); never sent, logged or written
    #[arg(long, env = "API_SECRET", hide_env_values = true)]
    pub api_secret: Option<Secret>,
}

/// Resolved, validated `alphalab brackets` settings.
#[derive(Debug, Clone)]
pub struct BracketsConfig {
    /// Upper case.
    pub symbol: Option<String>,
    pub out: PathBuf,
    pub log_level: Option<String>,
    pub base_path_futures: String,
    pub timeout_secs: f64,
    pub max_retries: u32,
    pub api_key: Option<Secret>,
    pub api_secret: Option<Secret>,
}

impl BracketsArgs {
    /// Applies `file` (a settings file's `[snapshot]` table) below these values, then the
    /// defaults, and checks every value as the snapshot does.
    ///
    /// # Errors
    /// A message naming the variable (or flag) and its allowed values.
    pub fn resolve(self, file: SnapshotArgs) -> Result<BracketsConfig, String> {
        let conn = SnapshotArgs {
            output_dir: self.output_dir,
            base_path_futures: self.base_path_futures,
            log_level: self.log_level,
            timeout_secs: self.timeout_secs,
            max_retries: self.max_retries,
            api_key: self.api_key.map(|s| s.0),
            api_secret: self.api_secret.map(|s| s.0),
            ..SnapshotArgs::default()
        }
        .or(file)
        .resolve()?;
        let symbol = match self.symbol {
            Some(s) => Some(symbol(Some(s), "--symbol")?),
            None => None,
        };
        let out = self.out.unwrap_or_else(|| {
            let market = binance::brackets::LEVERAGE_BRACKETS.market;
            conn.output_dir
                .join(market.output_dir())
                .join(format!("{}.json", binance::brackets::LEVERAGE_BRACKETS.name))
        });
        Ok(BracketsConfig {
            symbol,
            out,
            log_level: conn.log_level,
            base_path_futures: conn.base_path_futures,
            timeout_secs: conn.timeout_secs,
            max_retries: conn.max_retries,
            api_key: conn.api_key,
            api_secret: conn.api_secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[test]
    fn defaults_match_the_legacy_script_except_the_window_bug() {
        let c = SnapshotArgs::default().resolve().unwrap();
        assert_eq!((c.kline_limit, c.funding_limit, c.metric_limit, c.trade_limit), (1000, 500, 500, 1000));
        assert_eq!((c.ws_capture_seconds, c.ws_window), (30, Window::H4));
        assert_eq!(c.base_path_futures, "https://fapi.binance.com");
        assert_eq!(c.output_dir, PathBuf::from("outputs"));
    }

    #[test]
    fn higher_layer_wins_field_by_field() {
        let flags = SnapshotArgs { kline_limit: Some("10".into()), ..Default::default() };
        let file =
            SnapshotArgs { kline_limit: Some("20".into()), trade_limit: Some("30".into()), ..Default::default() };
        let c = flags.or(file).resolve().unwrap();
        assert_eq!((c.kline_limit, c.trade_limit), (10, 30));
    }

    #[rstest]
    #[case::limit(SnapshotArgs { kline_limit: Some("abc".into()), ..Default::default() }, "KLINE_LIMIT=\"abc\" is invalid: allowed values are 1..=1500")]
    #[case::zero(SnapshotArgs { metric_limit: Some("0".into()), ..Default::default() }, "METRIC_LIMIT=\"0\" is invalid: allowed values are 1..=500")]
    #[case::window(SnapshotArgs { ws_window_size: Some("2h".into()), ..Default::default() }, "WS_WINDOW_SIZE=\"2h\" is invalid: allowed values are 1h, 4h, 1d (or WINDOW_SIZE_1h, ...)")]
    #[case::contract(SnapshotArgs { continuous_contract_type: Some("weekly".into()), ..Default::default() }, "CONTINUOUS_CONTRACT_TYPE=\"WEEKLY\" is invalid: allowed values are PERPETUAL, CURRENT_QUARTER, NEXT_QUARTER")]
    #[case::level(SnapshotArgs { log_level: Some("LOUD".into()), ..Default::default() }, "LOG_LEVEL=\"LOUD\" is not one of OFF, ERROR, WARN, WARNING, INFO, DEBUG, TRACE")]
    #[case::url(SnapshotArgs { base_path_spot: Some("ftp://x".into()), ..Default::default() }, "BASE_PATH_SPOT=\"ftp://x\" is invalid: expected an http(s):// or ws(s):// URL")]
    fn invalid_values_name_the_variable(#[case] args: SnapshotArgs, #[case] msg: &str) {
        assert_eq!(args.resolve().unwrap_err(), msg);
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        let err = toml::from_str::<SettingsFile>("[snapshot]\nkline_limt = 5\n").unwrap_err();
        assert!(err.to_string().contains("kline_limt"), "{err}");
    }

    #[test]
    fn file_numbers_are_validated_like_env_strings() {
        let f: SettingsFile = toml::from_str("[snapshot]\nkline_limit = 5\nweight_margin = 0.2\n").unwrap();
        let c = f.snapshot.resolve().unwrap();
        assert_eq!((c.kline_limit, c.weight_margin), (5, 0.2));
    }

    #[test]
    fn secrets_never_print() {
        let s = format!("{:?}", Secret("abc123".into()));
        assert!(!s.contains("abc123"));
        let args = BracketsArgs {
            api_key: Some(Secret("key-abc".into())),
            api_secret: Some(Secret("secret-abc".into())),
            ..BracketsArgs::default()
        };
        let shown = format!("{args:?} {:?}", args.clone().resolve(SnapshotArgs::default()).unwrap());
        assert!(!shown.contains("key-abc") && !shown.contains("secret-abc"), "{shown}");
    }

    #[test]
    fn brackets_defaults_and_layers() {
        let c = BracketsArgs::default().resolve(SnapshotArgs::default()).unwrap();
        assert_eq!(c.out, PathBuf::from("outputs/futures/leverage_brackets.json"));
        assert_eq!((c.base_path_futures.as_str(), c.symbol), ("https://fapi.binance.com", None));
        assert!(c.api_key.is_none() && c.api_secret.is_none());
        let file = SnapshotArgs {
            output_dir: Some("from-file".into()),
            base_path_futures: Some("http://127.0.0.1:8900/".into()),
            ..Default::default()
        };
        let flags =
            BracketsArgs { symbol: Some("ethusdt".into()), api_secret: Some(Secret("s".into())), ..Default::default() };
        let c = flags.resolve(file).unwrap();
        assert_eq!(c.out, PathBuf::from("from-file/futures/leverage_brackets.json"));
        assert_eq!((c.base_path_futures.as_str(), c.symbol.as_deref()), ("http://127.0.0.1:8900", Some("ETHUSDT")));
        assert_eq!(c.api_secret.map(|s| s.0).as_deref(), Some("s"));
        let out = BracketsArgs { out: Some("x.json".into()), ..Default::default() };
        assert_eq!(out.resolve(SnapshotArgs::default()).unwrap().out, PathBuf::from("x.json"));
    }

    #[rstest]
    #[case::symbol(BracketsArgs { symbol: Some("BTC/USDT".into()), ..Default::default() }, "--symbol=\"BTC/USDT\" is invalid: allowed values are 1-20 letters and digits, e.g. BTCUSDT")]
    #[case::url(BracketsArgs { base_path_futures: Some("fapi.binance.com".into()), ..Default::default() }, "BASE_PATH_FUTURES=\"fapi.binance.com\" is invalid: expected an http(s):// or ws(s):// URL")]
    #[case::retries(BracketsArgs { max_retries: Some("-1".into()), ..Default::default() }, "ALPHALAB_MAX_RETRIES=\"-1\" is invalid: allowed values are 0..=10")]
    fn brackets_invalid_values_name_the_variable(#[case] args: BracketsArgs, #[case] msg: &str) {
        assert_eq!(args.resolve(SnapshotArgs::default()).unwrap_err(), msg);
    }
}
