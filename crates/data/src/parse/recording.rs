//! The lines of a recording: `<receive time, Unix ns> <JSON>`, the format of hftbacktest's
//! collector, which `alphalab record` writes too. A line's JSON is one of:
//!
//! - a WebSocket frame exactly as received, a combined-stream envelope `{"stream", "data"}`;
//! - a REST `/depth` snapshot exactly as received, `{"lastUpdateId", ...}` (what the diffs of
//!   the file are synchronised from);
//! - an alphalab gap record `{"alphalab_gap": {kind, from_ns, to_ns, streams, reason}}`: a
//!   reconnect (`connection`) or a book out of sync (`depth`), written by the recorder.
//!
//! Pure: [`split_line`] and [`classify`] only look at the text.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::{Error, Result};

/// What kind of hole a gap record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    /// Nothing was received on the listed streams (a disconnect, a stall, a scheduled reconnect).
    Connection,
    /// The order book was out of sync (a skipped update id, an interrupted stream).
    Depth,
}

impl GapKind {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            GapKind::Connection => "connection",
            GapKind::Depth => "depth",
        }
    }
}

/// A hole in a recording, as the recorder writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapRecord {
    pub kind: GapKind,
    pub from_ns: u64,
    pub to_ns: u64,
    /// Stream names (`btcusdt@depth@100ms`).
    pub streams: Vec<String>,
    pub reason: String,
}

impl GapRecord {
    /// The record's JSON line body: `{"alphalab_gap":{...}}`.
    ///
    /// # Errors
    /// None: infallible.
    #[must_use]
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Wrapped<'a> {
            alphalab_gap: &'a GapRecord,
        }
        serde_json::to_string(&Wrapped { alphalab_gap: self }).expect("a gap record serialises")
    }
}

/// One classified line.
#[derive(Debug, Clone, PartialEq)]
pub enum Line<'a> {
    /// A combined-stream frame: its stream name and its `data` (exact text).
    Frame {
        stream: Cow<'a, str>,
        data: &'a str,
    },
    /// A REST depth snapshot.
    Snapshot {
        last_update_id: u64,
    },
    Gap(GapRecord),
}

/// Splits `<ns> <json>`.
///
/// # Errors
/// [`Error::Invalid`] for a line without the leading integer and one space.
pub fn split_line(line: &str) -> Result<(u64, &str)> {
    let bad = |why: &str| Error::invalid("recording line", why.to_string());
    let (ns, json) = line.split_once(' ').ok_or_else(|| bad("no space after the receive time"))?;
    if ns.is_empty() || !ns.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the receive time is not an integer of nanoseconds"));
    }
    Ok((ns.parse().map_err(|_| bad("the receive time overflows"))?, json))
}

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(borrow, default)]
    stream: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(rename = "lastUpdateId", default)]
    last_update_id: Option<u64>,
    #[serde(default)]
    alphalab_gap: Option<GapRecord>,
}

/// Classifies a line's JSON.
///
/// # Errors
/// [`Error::Invalid`] for JSON that is none of the three kinds.
pub fn classify(json: &str) -> Result<Line<'_>> {
    let top: Top<'_> = serde_json::from_str(json).map_err(|e| Error::invalid("recording line", e.to_string()))?;
    match top {
        Top { stream: Some(stream), data: Some(data), .. } => Ok(Line::Frame { stream, data: data.get() }),
        Top { alphalab_gap: Some(g), .. } => Ok(Line::Gap(g)),
        Top { last_update_id: Some(last_update_id), .. } => Ok(Line::Snapshot { last_update_id }),
        _ => {
            Err(Error::invalid("recording line", "neither a combined-stream frame, a depth snapshot nor a gap record"))
        }
    }
}

/// The kind of data a stream carries, from its name's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FrameKind {
    Trade,
    AggTrade,
    BookTicker,
    /// Diff depth at any speed (`depth`, `depth@100ms`, `depth@0ms`, ...); not the partial-book
    /// streams (`depth5`, `depth20@100ms`).
    Depth,
    Kline,
    MarkPrice,
    ForceOrder,
    /// Anything else: kept in the raw archive, not converted.
    Other,
}

impl FrameKind {
    /// Kind of the stream `name` (`btcusdt@depth@100ms`), with its symbol upper-cased.
    #[must_use]
    pub fn of(name: &str) -> (String, FrameKind) {
        let (sym, rest) = name.split_once('@').unwrap_or((name, ""));
        let kind = match rest {
            "trade" => FrameKind::Trade,
            "aggTrade" => FrameKind::AggTrade,
            "bookTicker" => FrameKind::BookTicker,
            "forceOrder" => FrameKind::ForceOrder,
            "markPrice" | "markPrice@1s" => FrameKind::MarkPrice,
            r if r == "depth" || r.starts_with("depth@") => FrameKind::Depth,
            r if r.starts_with("kline_") => FrameKind::Kline,
            _ => FrameKind::Other,
        };
        (sym.to_ascii_uppercase(), kind)
    }

    /// Name in counts and messages.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            FrameKind::Trade => "trade",
            FrameKind::AggTrade => "aggTrade",
            FrameKind::BookTicker => "bookTicker",
            FrameKind::Depth => "depth",
            FrameKind::Kline => "kline",
            FrameKind::MarkPrice => "markPrice",
            FrameKind::ForceOrder => "forceOrder",
            FrameKind::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[test]
    fn frame_lines_keep_the_exact_data_text() {
        let line = r#"1723161254087896568 {"stream":"btcusdt@trade","data":{"e":"trade","p":"61837.63000000"}}"#;
        let (ns, json) = split_line(line).unwrap();
        assert_eq!(ns, 1_723_161_254_087_896_568);
        let Line::Frame { stream, data } = classify(json).unwrap() else { panic!() };
        assert_eq!((stream.as_ref(), data), ("btcusdt@trade", r#"{"e":"trade","p":"61837.63000000"}"#));
    }

    #[test]
    fn snapshot_and_gap_lines() {
        assert_eq!(
            classify(r#"{"lastUpdateId":5123107852948,"E":1,"T":1,"bids":[],"asks":[]}"#).unwrap(),
            Line::Snapshot { last_update_id: 5_123_107_852_948 }
        );
        let g = GapRecord {
            kind: GapKind::Depth,
            from_ns: 1,
            to_ns: 2,
            streams: vec!["btcusdt@depth@100ms".into()],
            reason: "spot depth: U = 9".into(),
        };
        assert_eq!(
            g.to_json(),
            r#"{"alphalab_gap":{"kind":"depth","from_ns":1,"to_ns":2,"streams":["btcusdt@depth@100ms"],"reason":"spot depth: U = 9"}}"#
        );
        assert_eq!(classify(&g.to_json()).unwrap(), Line::Gap(g));
    }

    #[rstest]
    #[case::no_space("1723161254087896568")]
    #[case::not_a_number("17x {}")]
    #[case::empty_time(" {}")]
    fn bad_line_framing(#[case] line: &str) {
        assert!(matches!(split_line(line), Err(Error::Invalid { .. })));
    }

    #[rstest]
    #[case::rest_ticker(r#"{"symbol":"BTCUSDT","price":"1"}"#)]
    #[case::subscription_reply(r#"{"result":null,"id":1}"#)]
    #[case::not_json("{")]
    #[case::unknown_gap_key(
        r#"{"alphalab_gap":{"kind":"depth","from_ns":1,"to_ns":2,"streams":[],"reason":"","x":1}}"#
    )]
    fn unknown_json_is_refused(#[case] json: &str) {
        assert!(matches!(classify(json), Err(Error::Invalid { .. })), "{json}");
    }

    #[rstest]
    #[case("btcusdt@trade", FrameKind::Trade)]
    #[case("btcusdt@aggTrade", FrameKind::AggTrade)]
    #[case("btcusdt@bookTicker", FrameKind::BookTicker)]
    #[case("btcusdt@depth", FrameKind::Depth)]
    #[case("btcusdt@depth@100ms", FrameKind::Depth)]
    #[case("btcusdt@depth@0ms", FrameKind::Depth)]
    #[case("btcusdt@depth20@100ms", FrameKind::Other)]
    #[case("btcusdt@kline_1m", FrameKind::Kline)]
    #[case("btcusdt@markPrice@1s", FrameKind::MarkPrice)]
    #[case("btcusdt@forceOrder", FrameKind::ForceOrder)]
    #[case("btcusdt@ticker_1h", FrameKind::Other)]
    fn stream_kinds(#[case] name: &str, #[case] kind: FrameKind) {
        assert_eq!(FrameKind::of(name), ("BTCUSDT".to_string(), kind));
    }
}
