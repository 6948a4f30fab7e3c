//! WebSocket market streams as data: names, markets, the rolling-window sizes and the
//! per-connection limits Binance enforces ([`WsLimits`]).
//!
//! Stream names are built and parsed only here, so the recorder, the snapshot and the
//! simulator agree on `<symbol>@<kind>` spelling.

use std::{fmt, time::Duration};

use crate::endpoint::{Market, interval_ms};

/// One market-data stream kind of a symbol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// Spot rolling-window ticker `@ticker_<1h|4h|1d>` (the legacy payload).
    RollingTicker(Window),
    Trade,
    AggTrade,
    /// `@kline_<interval>`.
    Kline(String),
    BookTicker,
    /// `@depth@100ms` diff depth.
    Depth100ms,
    /// USD-M only: `@markPrice@1s`.
    MarkPrice1s,
    /// USD-M only: `@forceOrder`, the liquidation orders of the symbol.
    ForceOrder,
}

/// Rolling-window sizes of the spot `@ticker_<window>` stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Window {
    #[serde(rename = "1h")]
    H1,
    #[serde(rename = "4h")]
    H4,
    #[serde(rename = "1d")]
    D1,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::H1, Window::H4, Window::D1];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Window::H1 => "1h",
            Window::H4 => "4h",
            Window::D1 => "1d",
        }
    }

    #[must_use]
    pub const fn millis(self) -> u64 {
        match self {
            Window::H1 => 3_600_000,
            Window::H4 => 14_400_000,
            Window::D1 => 86_400_000,
        }
    }

    /// Accepts `1h`, `4h`, `1d` and the SDK enum names `WINDOW_SIZE_1h` etc., case-insensitively
    /// (the legacy script upper-cased the value and so never matched anything but its fallback).
    #[must_use]
    pub fn parse(s: &str) -> Option<Window> {
        let t = s.trim();
        let t = t.strip_prefix("WINDOW_SIZE_").or_else(|| t.strip_prefix("window_size_")).unwrap_or(t);
        Window::ALL.into_iter().find(|w| w.as_str().eq_ignore_ascii_case(t))
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl StreamKind {
    /// Markets that publish this stream.
    #[must_use]
    pub fn available_on(&self, market: Market) -> bool {
        match self {
            StreamKind::RollingTicker(_) => market == Market::Spot,
            StreamKind::MarkPrice1s | StreamKind::ForceOrder => market == Market::UsdM,
            _ => true,
        }
    }

    fn suffix(&self) -> String {
        match self {
            StreamKind::RollingTicker(w) => format!("ticker_{w}"),
            StreamKind::Trade => "trade".into(),
            StreamKind::AggTrade => "aggTrade".into(),
            StreamKind::Kline(i) => format!("kline_{i}"),
            StreamKind::BookTicker => "bookTicker".into(),
            StreamKind::Depth100ms => "depth@100ms".into(),
            StreamKind::MarkPrice1s => "markPrice@1s".into(),
            StreamKind::ForceOrder => "forceOrder".into(),
        }
    }
}

/// A stream of one symbol, e.g. `btcusdt@ticker_4h`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Stream {
    /// Upper-case symbol (`BTCUSDT`); the wire name is lower-case.
    pub symbol: String,
    pub kind: StreamKind,
}

impl Stream {
    #[must_use]
    pub fn new(symbol: &str, kind: StreamKind) -> Self {
        Self { symbol: symbol.to_ascii_uppercase(), kind }
    }

    /// The wire name: `btcusdt@ticker_1h`.
    #[must_use]
    pub fn name(&self) -> String {
        format!("{}@{}", self.symbol.to_ascii_lowercase(), self.kind.suffix())
    }

    /// Parses a wire stream name; `None` for anything Binance would not recognise.
    #[must_use]
    pub fn parse(name: &str) -> Option<Stream> {
        let (sym, rest) = name.split_once('@')?;
        if sym.is_empty() || !sym.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let kind = match rest {
            "trade" => StreamKind::Trade,
            "aggTrade" => StreamKind::AggTrade,
            "bookTicker" => StreamKind::BookTicker,
            "depth@100ms" => StreamKind::Depth100ms,
            "markPrice@1s" => StreamKind::MarkPrice1s,
            "forceOrder" => StreamKind::ForceOrder,
            _ => {
                if let Some(w) = rest.strip_prefix("ticker_") {
                    StreamKind::RollingTicker(Window::ALL.into_iter().find(|x| x.as_str() == w)?)
                } else if let Some(i) = rest.strip_prefix("kline_") {
                    interval_ms(i)?;
                    StreamKind::Kline(i.to_string())
                } else {
                    return None;
                }
            }
        };
        Some(Stream::new(sym, kind))
    }
}

impl StreamKind {
    /// Parses the part after `<symbol>@` (`trade`, `depth@100ms`, `kline_1m`, ...), as
    /// `alphalab record --streams` takes it.
    #[must_use]
    pub fn parse_suffix(suffix: &str) -> Option<StreamKind> {
        Stream::parse(&format!("x@{suffix}")).map(|s| s.kind)
    }
}

/// The limits Binance puts on one market's WebSocket connections, from its docs:
/// [spot](https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams) (5
/// incoming messages per second, 1024 streams per connection, 300 connection attempts per
/// 5 minutes per IP, cut after 24 h) and
/// [USD-M](https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams)
/// (10 incoming messages per second, 1024 streams, cut after 24 h). A connection over the message
/// limit is disconnected, and an IP disconnected repeatedly is banned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsLimits {
    pub max_streams_per_connection: usize,
    /// Messages the client may send per second on one connection (SUBSCRIBE, pongs, ...).
    pub messages_per_second: u32,
    /// Connection attempts per IP per [`WsLimits::CONNECTION_WINDOW`].
    pub connections_per_window: u32,
    /// Binance closes a connection after this long.
    pub max_connection_age: Duration,
}

impl WsLimits {
    /// The window of [`WsLimits::connections_per_window`].
    pub const CONNECTION_WINDOW: Duration = Duration::from_secs(300);

    /// Binance's limits for `market`.
    #[must_use]
    pub const fn of(market: Market) -> WsLimits {
        let messages_per_second = match market {
            Market::Spot => 5,
            Market::UsdM => 10,
        };
        WsLimits {
            max_streams_per_connection: 1024,
            messages_per_second,
            connections_per_window: 300,
            max_connection_age: Duration::from_secs(24 * 3600),
        }
    }
}

/// Production WebSocket base URL of a market (combined streams live under `/stream`).
#[must_use]
pub const fn prod_stream_url(market: Market) -> &'static str {
    match market {
        Market::Spot => "wss://stream.binance.com:9443",
        Market::UsdM => "wss://fstream.binance.com",
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::ticker("btcusdt@ticker_4h")]
    #[case::trade("ethusdt@trade")]
    #[case::agg("btcusdt@aggTrade")]
    #[case::kline("btcusdt@kline_15m")]
    #[case::book("btcusdt@bookTicker")]
    #[case::depth("btcusdt@depth@100ms")]
    #[case::mark("btcusdt@markPrice@1s")]
    #[case::force_order("btcusdt@forceOrder")]
    fn names_round_trip(#[case] name: &str) {
        assert_eq!(Stream::parse(name).unwrap().name(), name);
    }

    #[rstest]
    #[case::bad_window("btcusdt@ticker_2h")]
    #[case::bad_interval("btcusdt@kline_7m")]
    #[case::no_kind("btcusdt")]
    #[case::garbage("btc-usdt@trade")]
    fn rejects_unknown(#[case] name: &str) {
        assert_eq!(Stream::parse(name), None);
    }

    #[rstest]
    #[case::depth("depth@100ms", Some(StreamKind::Depth100ms))]
    #[case::kline("kline_1m", Some(StreamKind::Kline("1m".into())))]
    #[case::force_order("forceOrder", Some(StreamKind::ForceOrder))]
    #[case::unknown("depth@7ms", None)]
    fn suffixes(#[case] s: &str, #[case] want: Option<StreamKind>) {
        assert_eq!(StreamKind::parse_suffix(s), want);
    }

    #[test]
    fn force_order_and_mark_price_are_usdm_only() {
        for k in [StreamKind::ForceOrder, StreamKind::MarkPrice1s] {
            assert!(k.available_on(Market::UsdM) && !k.available_on(Market::Spot), "{k:?}");
        }
    }

    #[rstest]
    #[case("WINDOW_SIZE_4h", Some(Window::H4))]
    #[case("WINDOW_SIZE_4H", Some(Window::H4))]
    #[case("1d", Some(Window::D1))]
    #[case("2h", None)]
    fn window_parse(#[case] s: &str, #[case] w: Option<Window>) {
        assert_eq!(Window::parse(s), w);
    }
}
