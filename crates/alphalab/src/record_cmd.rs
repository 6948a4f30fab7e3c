//! `alphalab record`: thin orchestration of [`data::record`]: the market's exchangeInfo into the
//! raw archive (the instruments of the recording), the recorder until Ctrl-C, SIGTERM or
//! `--duration`, each completed file into the catalog as it lands (`--write-catalog`, on a
//! thread of its own: the catalog blocks), a spinner while it runs and a summary after.

use std::{collections::BTreeMap, path::PathBuf, sync::mpsc as std_mpsc, time::Duration};

use anyhow::Context;
use binance::{
    Market,
    rest::{RestClient, RestConfig},
    stream::StreamKind,
};
use data::{
    catalog::Catalog,
    ingest::{RawItem, ingest},
    parse::recording::{FrameKind, GapKind},
    raw::RawStore,
    record::{RecordConfig, RecordReport, record},
    recording::CompletedRecording,
};
use tokio::sync::watch;

use crate::console::{self, thousands};

/// What `alphalab record` was asked for.
#[derive(Debug, Clone)]
pub struct RecordArgs {
    pub market: Market,
    pub symbols: Vec<String>,
    pub streams: Vec<StreamKind>,
    /// Stop after this long (else at Ctrl-C or SIGTERM).
    pub duration: Option<Duration>,
    /// REST base (depth snapshots, exchangeInfo).
    pub rest_url: String,
    /// WebSocket base.
    pub stream_url: String,
    pub rotate_every: Duration,
    pub data_root: PathBuf,
    /// Convert each completed file into this catalog.
    pub catalog: Option<PathBuf>,
}

/// What a recording and its conversion did.
#[derive(Debug)]
pub struct Recorded {
    pub report: RecordReport,
    pub elapsed: Duration,
    /// New catalog rows, and the files that did not convert (with why).
    pub rows_written: usize,
    pub refused: Vec<(String, String)>,
}

/// `20s`, `90m`, `6h`, `1d`, `500ms`.
///
/// # Errors
/// A message naming the value and the forms accepted.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("invalid duration {s:?}: expected e.g. 20s, 90m, 6h, 1d"))?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("invalid duration {s:?}: the unit must be ms, s, m, h or d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

/// `trade,aggTrade,depth@100ms,...` → stream kinds, each published by `market`.
///
/// # Errors
/// A message naming the unknown or unpublished stream.
pub fn parse_streams(list: &[String], market: Market) -> Result<Vec<StreamKind>, String> {
    let mut out = Vec::new();
    for s in list.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let k = StreamKind::parse_suffix(s).ok_or_else(|| {
            format!(
                "unknown stream {s:?}: expected trade, aggTrade, bookTicker, depth@100ms, kline_<interval>, \
                 markPrice@1s or forceOrder (the last two on usdm)"
            )
        })?;
        if matches!(k, StreamKind::RollingTicker(_)) || !k.available_on(market) {
            return Err(format!("stream {s:?} is not recorded on {market}"));
        }
        if !out.contains(&k) {
            out.push(k);
        }
    }
    if out.is_empty() {
        return Err("--streams is empty".into());
    }
    Ok(out)
}

/// The WebSocket base of `market`: the flag, else `STREAM_URL_SPOT` (spot, as the snapshot reads
/// it) or `STREAM_URL_FUTURES` (USD-M), else production Binance.
#[must_use]
pub fn stream_url(flag: Option<String>, market: Market) -> String {
    let env = match market {
        Market::Spot => "STREAM_URL_SPOT",
        Market::UsdM => "STREAM_URL_FUTURES",
    };
    flag.or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| binance::stream::prod_stream_url(market).to_string())
}

/// Records until Ctrl-C, SIGTERM or the duration, converting completed files if asked.
///
/// # Errors
/// The REST client, the exchangeInfo request, or the recorder's fatal errors (a rejected
/// subscription, no connection at all, the raw archive).
pub async fn run(args: &RecordArgs) -> anyhow::Result<Recorded> {
    let client = RestClient::new(RestConfig {
        spot_url: args.rest_url.clone(),
        usdm_url: args.rest_url.clone(),
        timeout: Duration::from_secs(30),
        ..RestConfig::default()
    })?;
    let store = RawStore::new(&args.data_root);
    data::instruments::fetch_exchange_info(&client, &store, args.market)
        .await
        .with_context(|| format!("fetching {} exchangeInfo from {}", args.market, args.rest_url))?;
    let mut cfg = RecordConfig::new(args.market, args.symbols.clone(), args.streams.clone(), args.stream_url.clone());
    cfg.rotate_every = args.rotate_every;

    let (stop_tx, stop_rx) = watch::channel(false);
    let duration = args.duration;
    let stopper = tokio::spawn(async move {
        let term = async {
            #[cfg(unix)]
            if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                s.recv().await;
                return;
            }
            std::future::pending::<()>().await;
        };
        let timer = async {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => log::info!("record: Ctrl-C, completing the files"),
            () = term => log::info!("record: SIGTERM, completing the files"),
            () = timer => log::info!("record: --duration reached"),
        }
        let _ = stop_tx.send(true);
    });

    let (file_tx, file_rx) = std_mpsc::channel::<PathBuf>();
    let ingester = args.catalog.clone().map(|dir| {
        let store = store.clone();
        std::thread::spawn(move || convert_files(&store, &dir, &file_rx))
    });
    let label = format!("record {} {}", args.market, symbols_label(&args.symbols));
    let bar = console::spinner(&label);
    let t0 = std::time::Instant::now();
    let mut on_file = |f: &CompletedRecording| {
        if args.catalog.is_some() {
            let _ = file_tx.send(f.path.clone());
        }
    };
    let mut on_tick = |r: &RecordReport| {
        bar.set_message(format!(
            "{label}: {} frames, {} files, {} gaps",
            thousands(r.total_frames()),
            r.files.len(),
            r.gaps.len()
        ));
    };
    let outcome = record(&cfg, &client, &store, stop_rx, &mut on_file, &mut on_tick).await;
    bar.finish_and_clear();
    stopper.abort();
    drop(file_tx);
    let (rows_written, refused) = match ingester {
        Some(h) => tokio::task::spawn_blocking(move || h.join())
            .await?
            .map_err(|_| anyhow::anyhow!("catalog thread panicked"))?,
        None => (0, Vec::new()),
    };
    let report = outcome?;
    Ok(Recorded { report, elapsed: t0.elapsed(), rows_written, refused })
}

/// Converts each completed recording into the catalog at `dir`; returns the new rows and the
/// files refused.
fn convert_files(
    store: &RawStore,
    dir: &std::path::Path,
    files: &std_mpsc::Receiver<PathBuf>,
) -> (usize, Vec<(String, String)>) {
    let mut cat = match Catalog::open(dir) {
        Ok(c) => c,
        Err(e) => {
            let refused = files.iter().map(|f| (f.display().to_string(), e.to_string())).collect();
            return (0, refused);
        }
    };
    let (mut rows, mut refused) = (0, Vec::new());
    for path in files {
        match ingest(store, &mut cat, &RawItem::Stream(path.clone()), None) {
            Ok(done) => {
                log::info!("record: {}: {} rows ({} new)", path.display(), done.rows, done.written);
                rows += done.written;
            }
            Err(e) => {
                log::error!("record: {} not converted: {e}", path.display());
                refused.push((path.display().to_string(), e.to_string()));
            }
        }
    }
    (rows, refused)
}

/// Whether `path` is a recording (`.gz` lines) rather than a data.binance.vision bulk file.
#[must_use]
pub fn is_recording(path: &std::path::Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// The recordings (`*.gz`) under `dir`, recursively, in path order.
///
/// # Errors
/// A folder that cannot be listed.
pub fn recording_files(dir: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if is_recording(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `alphalab import` of one recording written elsewhere: stored unchanged in the raw archive
/// ([`data::recording::import_recording`]), then converted into the catalog like a recording of
/// `alphalab record`. Returns the new rows; a recording that does not convert leaves the raw
/// archive again.
///
/// # Errors
/// The file is refused (framing, two symbols, market unknown) or does not convert.
pub fn import_recording(
    store: &RawStore,
    cat: &mut Catalog,
    file: &std::path::Path,
    market: Option<Market>,
    base_url: Option<&str>,
) -> anyhow::Result<usize> {
    let imported = data::recording::import_recording(store, file, market)?;
    let frames: Vec<String> = imported.frames.iter().map(|(k, n)| format!("{} {n}", k.as_str())).collect();
    log::info!(
        "import {}: {} {} recording, {} lines ({}), {} depth snapshots, {} gap records",
        file.display(),
        imported.market,
        imported.symbol,
        imported.lines,
        frames.join(", "),
        imported.snapshots,
        imported.gaps
    );
    let mut convert = || -> anyhow::Result<usize> {
        crate::pipeline::ensure_exchange_info(store, imported.market, base_url)?;
        let r = ingest(store, cat, &RawItem::Stream(imported.stored.clone()), None)?;
        log::info!("import {}: {} rows ({} new)", file.display(), r.rows, r.written);
        Ok(r.written)
    };
    convert().inspect_err(|_| {
        let _ = std::fs::remove_file(&imported.stored);
        let _ = std::fs::remove_file(data::raw::sidecar(&imported.stored));
    })
}

/// `BTCUSDT,ETHUSDT`, or `90 symbols (BTCUSDT, ETHUSDT, ...)` for long lists.
fn symbols_label(symbols: &[String]) -> String {
    match symbols {
        [a, b, _, _, ..] => format!("{} symbols ({a}, {b}, ...)", symbols.len()),
        _ => symbols.join(","),
    }
}

/// The summary on the terminal.
pub fn print_summary(args: &RecordArgs, r: &Recorded) {
    let store = RawStore::new(&args.data_root);
    console::step(&format!(
        "record {} {} from {} into {}",
        args.market,
        symbols_label(&args.symbols),
        args.stream_url,
        store.root().join("raw/stream").join(args.market.to_string()).display()
    ));
    let mut per_kind: BTreeMap<&str, u64> = BTreeMap::new();
    for (stream, n) in &r.report.frames {
        *per_kind.entry(FrameKind::of(stream).1.as_str()).or_default() += n;
    }
    let kinds: Vec<String> = per_kind.iter().map(|(k, n)| format!("{k} {}", thousands(*n))).collect();
    let secs = r.elapsed.as_secs_f64();
    console::detail(&format!(
        "{:.1} s: {} frames ({:.0}/s: {}), {} depth snapshots, {} files completed",
        secs,
        thousands(r.report.total_frames()),
        r.report.total_frames() as f64 / secs.max(1e-9),
        kinds.join(", "),
        r.report.snapshots,
        r.report.files.len()
    ));
    if !r.report.recovered.is_empty() {
        console::detail(&format!("{} files left by an earlier crash completed first", r.report.recovered.len()));
    }
    let count = |k: GapKind| r.report.gaps.iter().filter(|(_, g)| g.kind == k).count();
    console::detail(&format!(
        "{} reconnects; gaps: {} connection, {} order book (each in its file and in `catalog ls`)",
        r.report.reconnects,
        count(GapKind::Connection),
        count(GapKind::Depth)
    ));
    if let Some(c) = &args.catalog {
        console::detail(&format!("catalog {}: {} new rows", c.display(), thousands(r.rows_written as u64)));
    }
    for (file, why) in &r.refused {
        console::detail(&format!("not converted {file}: {why}"));
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::seconds("20s", Duration::from_secs(20))]
    #[case::hours("6h", Duration::from_secs(21_600))]
    #[case::minutes("90m", Duration::from_secs(5_400))]
    #[case::day("1d", Duration::from_secs(86_400))]
    #[case::millis("500ms", Duration::from_millis(500))]
    fn durations(#[case] s: &str, #[case] want: Duration) {
        assert_eq!(parse_duration(s), Ok(want));
    }

    #[rstest]
    #[case::no_unit("20", "invalid duration \"20\": the unit must be ms, s, m, h or d")]
    #[case::unknown_unit("2w", "invalid duration \"2w\": the unit must be ms, s, m, h or d")]
    #[case::no_number("h", "invalid duration \"h\": expected e.g. 20s, 90m, 6h, 1d")]
    fn bad_durations(#[case] s: &str, #[case] want: &str) {
        assert_eq!(parse_duration(s), Err(want.to_string()));
    }

    #[test]
    fn long_symbol_lists_are_shortened() {
        let s = |v: &[&str]| symbols_label(&v.iter().map(ToString::to_string).collect::<Vec<_>>());
        assert_eq!(s(&["BTCUSDT", "ETHUSDT", "BNBUSDT"]), "BTCUSDT,ETHUSDT,BNBUSDT");
        assert_eq!(s(&["A", "B", "C", "D"]), "4 symbols (A, B, ...)");
    }

    #[test]
    fn streams_parse_per_market() {
        let list: Vec<String> = ["trade", "depth@100ms", "kline_1m", "trade"].iter().map(ToString::to_string).collect();
        assert_eq!(
            parse_streams(&list, Market::Spot),
            Ok(vec![StreamKind::Trade, StreamKind::Depth100ms, StreamKind::Kline("1m".into())])
        );
        let usdm_only = vec!["forceOrder".to_string()];
        assert_eq!(parse_streams(&usdm_only, Market::UsdM), Ok(vec![StreamKind::ForceOrder]));
        assert_eq!(
            parse_streams(&usdm_only, Market::Spot),
            Err("stream \"forceOrder\" is not recorded on spot".into())
        );
        assert!(
            parse_streams(&["depth@1ms".to_string()], Market::Spot)
                .unwrap_err()
                .starts_with("unknown stream \"depth@1ms\"")
        );
    }
}
