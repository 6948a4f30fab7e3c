//! Reading a run folder into plain series (`f64` for plotting; exact decimals stay text), and
//! the pure series maths of the reports: monthly returns, monthly PnL per instrument, drawdown,
//! step functions and downsampling.

use std::{collections::BTreeMap, path::Path};

use chrono::Datelike;
use serde_json::{Map, Value, value::RawValue};

use crate::{Error, Result};

/// A time series point: `(ts in ns since the epoch, value)`.
pub type Point = (i64, f64);

/// One row of `fills.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct FillRow {
    pub ts: i64,
    pub instrument_id: String,
    pub side: String,
    /// Signed quantity (positive buy).
    pub qty: f64,
    pub price: f64,
    pub commission: f64,
    pub commission_currency: String,
    pub position_after: f64,
    /// `Maker`, `Taker` or `Liquidation` (a position closed by the liquidation engine).
    pub liquidity: String,
}

/// One row of `equity.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct EquityRow {
    pub ts: i64,
    pub equity_ex_funding: f64,
    /// Cumulative funding received (negative = paid).
    pub funding: f64,
    pub equity: f64,
    pub gross_exposure: f64,
    /// Σ position × price (absent from run folders written before it existed).
    pub net_exposure: Option<f64>,
    /// Instruments with a position (idem).
    pub open_positions: Option<f64>,
}

/// One row of `attribution.csv` or `instrument_pnl.csv`: an instrument's PnL up to `ts`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributionRow {
    pub ts: i64,
    pub instrument_id: String,
    pub position: f64,
    pub realized_pnl: f64,
    pub unrealized_pnl: f64,
    pub fees: f64,
    pub funding: f64,
    pub liquidation_fees: f64,
    pub net_pnl: f64,
    pub traded_notional: f64,
    pub fills: u64,
}

/// Columns of [`AttributionRow`] in the files.
const ATTRIBUTION_COLUMNS: [&str; 11] = [
    "ts",
    "instrument_id",
    "position",
    "realized_pnl",
    "unrealized_pnl",
    "fees",
    "funding",
    "liquidation_fees",
    "net_pnl",
    "traded_notional",
    "fills",
];

/// One row of `funding.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct FundingRow {
    pub ts: i64,
    pub instrument_id: String,
    pub payment: f64,
    /// Running sum of payments received (all instruments).
    pub cumulative: f64,
}

/// Everything a run report shows, read from a run folder.
#[derive(Debug, Clone, Default)]
pub struct RunData {
    /// `stats` of `result.json`, in file order (decimals as strings).
    pub stats: Map<String, Value>,
    /// Scalar top-level fields of `result.json` (`version`, `iterations`, ...) and the lengths of
    /// its `skips` / `rejections` lists.
    pub summary: Vec<(String, String)>,
    pub run_toml: String,
    pub version: String,
    pub fills: Vec<FillRow>,
    pub equity: Vec<EquityRow>,
    pub funding: Vec<FundingRow>,
    /// `prices.csv` per instrument (empty when the file is absent).
    pub prices: BTreeMap<String, Vec<Point>>,
    /// `attribution.csv`: PnL per instrument at the end (empty when absent).
    pub attribution: Vec<AttributionRow>,
    /// `instrument_pnl.csv`: the same at the end of each UTC day, then at the end (idem).
    pub instrument_pnl: Vec<AttributionRow>,
}

impl RunData {
    /// Reads the run folder `dir`; `prices.csv`, `attribution.csv`, `instrument_pnl.csv`,
    /// `version.json` and the exposure columns of `equity.csv` are optional.
    ///
    /// # Errors
    /// A missing or malformed `result.json`, `equity.csv`, `fills.csv` or `funding.csv`, naming
    /// the file (and line).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("result.json");
        let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
        let origin = || path.display().to_string();
        // Only the top level is parsed into values: the fills and equity arrays of result.json
        // are read from the CSV files, so their raw JSON is skipped.
        let top: BTreeMap<String, &RawValue> =
            serde_json::from_str(&text).map_err(|e| Error::data(origin(), format!("not a JSON object: {e}")))?;
        let stats = match top.get("stats") {
            Some(raw) => serde_json::from_str(raw.get()).map_err(|e| Error::data(origin(), format!("stats: {e}")))?,
            None => return Err(Error::data(origin(), "no stats")),
        };
        let mut summary = Vec::new();
        for key in ["iterations", "total_orders", "total_positions", "skips", "rejections"] {
            let Some(raw) = top.get(key) else { continue };
            let text = match serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
                Ok(list) => list.len().to_string(),
                Err(_) => raw.get().to_string(),
            };
            summary.push((key.to_string(), text));
        }
        let run_toml = std::fs::read_to_string(dir.join("run.toml")).unwrap_or_default();
        let version = std::fs::read_to_string(dir.join("version.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.get("version").and_then(Value::as_str).map(str::to_string))
            .or_else(|| top.get("version").and_then(|r| serde_json::from_str::<String>(r.get()).ok()))
            .unwrap_or_default();
        let fills = read_csv(
            &dir.join("fills.csv"),
            &[
                "ts",
                "instrument_id",
                "side",
                "qty",
                "price",
                "commission",
                "commission_currency",
                "position_after",
                "liquidity",
            ],
            |f| {
                Ok(FillRow {
                    ts: int(f[0])?,
                    instrument_id: f[1].to_string(),
                    side: f[2].to_string(),
                    qty: num(f[3])?,
                    price: num(f[4])?,
                    commission: num(f[5])?,
                    commission_currency: f[6].to_string(),
                    position_after: num(f[7])?,
                    liquidity: f[8].to_string(),
                })
            },
        )?;
        let equity_path = dir.join("equity.csv");
        let mut columns = vec!["ts", "equity_ex_funding", "funding", "equity", "gross_exposure"];
        let head = header(&equity_path)?;
        let exposures = ["net_exposure", "open_positions"].iter().all(|c| head.iter().any(|h| h == c));
        if exposures {
            columns.extend(["net_exposure", "open_positions"]);
        }
        let equity = read_csv(&equity_path, &columns, |f| {
            Ok(EquityRow {
                ts: int(f[0])?,
                equity_ex_funding: num(f[1])?,
                funding: num(f[2])?,
                equity: num(f[3])?,
                gross_exposure: num(f[4])?,
                net_exposure: if exposures { Some(num(f[5])?) } else { None },
                open_positions: if exposures { Some(num(f[6])?) } else { None },
            })
        })?;
        let funding = read_csv(&dir.join("funding.csv"), &["ts", "instrument_id", "payment", "cumulative"], |f| {
            Ok(FundingRow {
                ts: int(f[0])?,
                instrument_id: f[1].to_string(),
                payment: num(f[2])?,
                cumulative: num(f[3])?,
            })
        })?;
        let mut prices: BTreeMap<String, Vec<Point>> = BTreeMap::new();
        let prices_path = dir.join("prices.csv");
        if prices_path.exists() {
            for (id, p) in read_csv(&prices_path, &["ts", "instrument_id", "price"], |f| {
                Ok((f[1].to_string(), (int(f[0])?, num(f[2])?)))
            })? {
                prices.entry(id).or_default().push(p);
            }
            for series in prices.values_mut() {
                series.sort_by_key(|p| p.0);
            }
        }
        let attribution = read_attribution(&dir.join("attribution.csv"))?;
        let instrument_pnl = read_attribution(&dir.join("instrument_pnl.csv"))?;
        Ok(Self { stats, summary, run_toml, version, fills, equity, funding, prices, attribution, instrument_pnl })
    }

    /// `initial_equity` of the statistics (string or number), if present.
    #[must_use]
    pub fn initial_equity(&self) -> Option<f64> {
        let v = self.stats.get("initial_equity")?;
        v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    }
}

/// An attribution file's rows, none when it is absent.
fn read_attribution(path: &Path) -> Result<Vec<AttributionRow>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    read_csv(path, &ATTRIBUTION_COLUMNS, |f| {
        Ok(AttributionRow {
            ts: int(f[0])?,
            instrument_id: f[1].to_string(),
            position: num(f[2])?,
            realized_pnl: num(f[3])?,
            unrealized_pnl: num(f[4])?,
            fees: num(f[5])?,
            funding: num(f[6])?,
            liquidation_fees: num(f[7])?,
            net_pnl: num(f[8])?,
            traded_notional: num(f[9])?,
            fills: u64::try_from(int(f[10])?).map_err(|e| Error::data("", format!("fills: {e}")))?,
        })
    })
}

/// The column names of a CSV file's header line.
fn header(path: &Path) -> Result<Vec<String>> {
    use std::io::BufRead as _;
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    let mut line = String::new();
    std::io::BufReader::new(file).read_line(&mut line).map_err(Error::io(path))?;
    Ok(line.trim().split(',').map(|h| h.trim().to_string()).collect())
}

fn int(s: &str) -> Result<i64> {
    s.trim().parse().map_err(|e| Error::data("", format!("not an integer: {s:?}: {e}")))
}

fn num(s: &str) -> Result<f64> {
    s.trim().parse().map_err(|e| Error::data("", format!("not a number: {s:?}: {e}")))
}

/// Reads a comma-separated file with a header line; `row` gets the fields named by `columns`,
/// in that order. Fields are never quoted by the backtest writer.
///
/// # Errors
/// I/O, a missing column, a short line or `row`'s error, naming the file and line (`row`'s
/// `Data` and `Draw` errors get `file line N` in front of their label).
pub fn read_csv<T>(path: &Path, columns: &[&str], mut row: impl FnMut(&[&str]) -> Result<T>) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').map(str::trim).collect();
    let idx: Vec<usize> = columns
        .iter()
        .map(|c| {
            header
                .iter()
                .position(|h| h == c)
                .ok_or_else(|| Error::data(path.display().to_string(), format!("no column {c}")))
        })
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    let mut picked: Vec<&str> = Vec::with_capacity(columns.len());
    for (n, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{} line {}", path.display(), n + 2);
        let fields: Vec<&str> = line.split(',').collect();
        picked.clear();
        for &i in &idx {
            picked.push(fields.get(i).copied().ok_or_else(|| Error::data(at(), "too few fields"))?);
        }
        out.push(row(&picked).map_err(|e| e.at(at()))?);
    }
    Ok(out)
}

/// Monthly returns: `(year, month 1..=12, return)` in time order, where a month's return is its
/// last equity over the previous month's last equity − 1, and the first month's is over
/// `initial` (the equity before the first point).
#[must_use]
pub fn monthly_returns(curve: &[Point], initial: f64) -> Vec<(i32, u32, f64)> {
    let mut month_ends: Vec<(i32, u32, f64)> = Vec::new();
    for &(ts, v) in curve {
        let t = chrono::DateTime::from_timestamp_nanos(ts);
        let key = (t.year(), t.month());
        match month_ends.last_mut() {
            Some(last) if (last.0, last.1) == key => last.2 = v,
            _ => month_ends.push((key.0, key.1, v)),
        }
    }
    let mut prev = initial;
    month_ends
        .into_iter()
        .map(|(y, m, end)| {
            let r = end / prev - 1.0;
            prev = end;
            (y, m, r)
        })
        .collect()
}

/// A UTC month: (year, month).
pub type Month = (i32, u32);
/// A month's PnL: (year, month, pnl).
pub type MonthPnl = (i32, u32, f64);

/// PnL per instrument and UTC month from cumulative rows (`instrument_pnl.csv`: each row the
/// instrument's net PnL up to and including its `ts`): a month's PnL is its last row's net PnL
/// minus the previous month's last (0 before the instrument's first row). Returns the months in
/// order and, per instrument, `(year, month, pnl)` for the months it has rows in.
#[must_use]
pub fn monthly_pnl(rows: &[AttributionRow]) -> (Vec<Month>, BTreeMap<String, Vec<MonthPnl>>) {
    // Per instrument: (ts, its month, cumulative net PnL).
    let mut ends: BTreeMap<&str, Vec<(i64, Month, f64)>> = BTreeMap::new();
    for r in rows {
        let t = chrono::DateTime::from_timestamp_nanos(r.ts);
        ends.entry(&r.instrument_id).or_default().push((r.ts, (t.year(), t.month()), r.net_pnl));
    }
    let mut months = std::collections::BTreeSet::new();
    let mut out = BTreeMap::new();
    for (id, mut v) in ends {
        v.sort_by_key(|x| x.0);
        let mut by_month: Vec<(Month, f64)> = Vec::new();
        for (_, m, net) in v {
            match by_month.last_mut() {
                Some(last) if last.0 == m => last.1 = net,
                _ => by_month.push((m, net)),
            }
        }
        let mut prev = 0.0;
        let pnl: Vec<MonthPnl> = by_month
            .into_iter()
            .map(|(m, end)| {
                months.insert(m);
                let p = end - prev;
                prev = end;
                (m.0, m.1, p)
            })
            .collect();
        out.insert(id.to_string(), pnl);
    }
    (months.into_iter().collect(), out)
}

/// Drawdown below the running peak (≤ 0, as a fraction), the peak starting at `initial`.
#[must_use]
pub fn drawdown(curve: &[Point], initial: f64) -> Vec<Point> {
    let mut peak = initial;
    curve
        .iter()
        .map(|&(t, v)| {
            peak = peak.max(v);
            (t, if peak > 0.0 { v / peak - 1.0 } else { 0.0 })
        })
        .collect()
}

/// A step function through `changes` (value after each time) from `(start, initial)` to `end`,
/// as line points with vertical edges.
#[must_use]
pub fn steps(changes: &[Point], start: i64, end: i64, initial: f64) -> Vec<Point> {
    let mut out = vec![(start, initial)];
    let mut cur = initial;
    for &(t, v) in changes {
        out.push((t, cur));
        out.push((t, v));
        cur = v;
    }
    out.push((end.max(out.last().map_or(end, |p| p.0)), cur));
    out
}

/// At most `max` points keeping the shape of `points` (time-ordered): the points are split into
/// `max / 4` buckets of equal count, each kept as its first, minimum, maximum and last point in
/// time order.
#[must_use]
pub fn downsample(points: &[Point], max: usize) -> Vec<Point> {
    if points.len() <= max || max < 4 {
        return points.to_vec();
    }
    let buckets = max / 4;
    let mut out = Vec::with_capacity(max);
    for b in 0..buckets {
        let chunk = &points[b * points.len() / buckets..(b + 1) * points.len() / buckets];
        if chunk.is_empty() {
            continue;
        }
        let (mut lo, mut hi) = (0, 0);
        for (i, p) in chunk.iter().enumerate() {
            if p.1 < chunk[lo].1 {
                lo = i;
            }
            if p.1 > chunk[hi].1 {
                hi = i;
            }
        }
        let mut keep = [0, lo, hi, chunk.len() - 1];
        keep.sort_unstable();
        let mut last = usize::MAX;
        for i in keep {
            if i != last {
                out.push(chunk[i]);
                last = i;
            }
        }
    }
    out
}

/// At most `max` items of `items`, evenly spaced (always the first and last).
#[must_use]
pub fn thin<T: Clone>(items: &[T], max: usize) -> Vec<T> {
    if items.len() <= max || max < 2 {
        return items.to_vec();
    }
    (0..max).map(|i| items[i * (items.len() - 1) / (max - 1)].clone()).collect()
}
