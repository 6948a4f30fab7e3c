//! Paginated REST history into the raw archive: weight-optimal pages on a fixed grid, fetched
//! concurrently through the shared weight limiter, resumable after any crash. This module plans
//! and reports one series of one symbol; [`crate::schedule`] runs many of them interleaved.
//!
//! Resumability comes from the layout, not from a journal: every page has a fixed key on a grid
//! (its start time, or its first id), is written atomically, and records whether it was
//! complete. A rerun lists the pages present and fetches only the missing or incomplete ones, so
//! a kill at any point loses at most the pages in flight and never duplicates a row.

use std::{borrow::Cow, collections::BTreeMap, fmt, time::Instant};

use binance::{Market, endpoint, rest::RestClient};
use serde::{
    Deserialize, Deserializer, Serialize,
    de::{IgnoredAny, MapAccess, SeqAccess, Visitor},
};
use serde_json::Value;

use crate::{
    dataset::{PageStep, Paging, Spec},
    error::{Error, Result},
    raw::{RawStore, RestPage, now_rfc3339},
};

/// One series to backfill.
#[derive(Debug, Clone)]
pub struct Job {
    pub market: Market,
    pub symbol: String,
    pub spec: Spec,
    /// Inclusive start, ms.
    pub from_ms: u64,
    /// Exclusive end, ms (clipped to the server time).
    pub to_ms: u64,
}

/// A hole in a series that Binance did not fill (outages are real): reported, never filled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Gap {
    /// Missing grid times `[from_ms, to_ms)`.
    Time { from_ms: u64, to_ms: u64 },
    /// Missing ids `[from, to)`.
    Ids { from: u64, to: u64 },
}

/// What a backfill did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub market: Market,
    pub symbol: String,
    pub series: String,
    pub page_limit: u32,
    pub pages: usize,
    pub fetched: usize,
    pub skipped: usize,
    pub rows: usize,
    pub gaps: Vec<Gap>,
    /// Set when Binance's retention cut the requested start.
    pub clipped_from_ms: Option<u64>,
    pub errors: Vec<String>,
    pub elapsed_ms: u64,
}

/// Whether a fetched page is final, from its row count.
type Rule = Box<dyn Fn(usize) -> bool + Send + Sync>;

/// The fields of a row the pager needs (time; aggregate, first and last trade ids), read
/// without building a JSON tree: a year of 1m klines is 525,600 rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowKey {
    /// Kline open time, `fundingTime`, `timestamp` or aggTrade `T`.
    pub time: Option<u64>,
    pub a: Option<u64>,
    pub f: Option<u64>,
    pub l: Option<u64>,
}

/// A number field, or anything else (read as absent, like `Value::as_u64`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Num {
    U(u64),
    Other(IgnoredAny),
}

impl Num {
    fn get(self) -> Option<u64> {
        match self {
            Self::U(u) => Some(u),
            Self::Other(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for RowKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RowKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a kline array or a row object")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<RowKey, A::Error> {
                let time = seq.next_element::<Num>()?.and_then(Num::get);
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RowKey { time, ..RowKey::default() })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<RowKey, A::Error> {
                let mut k = RowKey::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "fundingTime" | "timestamp" | "T" => {
                            let t = map.next_value::<Num>()?.get();
                            k.time = k.time.or(t);
                        }
                        "a" => k.a = map.next_value::<Num>()?.get(),
                        "f" => k.f = map.next_value::<Num>()?.get(),
                        "l" => k.l = map.next_value::<Num>()?.get(),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(k)
            }
        }
        d.deserialize_any(V)
    }
}
/// One page of the plan: its key, request parameters and completeness rule.
pub(crate) type Page = (u64, Vec<(&'static str, String)>, Rule);

/// Binance's clock, read once per run: pages ending after it are marked incomplete.
pub(crate) async fn server_time(client: &RestClient, market: Market) -> Result<u64> {
    let ep = endpoint::find(market, "time").expect("time row");
    let r = client.get(ep, &[]).await?;
    let v: Value =
        serde_json::from_slice(&r.body).map_err(|e| Error::invalid(ep.id(), format!("unexpected body: {e}")))?;
    v["serverTime"].as_u64().ok_or_else(|| Error::invalid(ep.id(), "unexpected body: no serverTime"))
}

fn base_params(job: &Job) -> Vec<(&'static str, String)> {
    let d = job.spec.dataset;
    let mut p = vec![(if d.uses_pair() { "pair" } else { "symbol" }, job.symbol.to_ascii_uppercase())];
    if let Some(s) = &job.spec.series.step
        && let Some(name) = d.endpoint().params.iter().map(|p| p.name).find(|n| *n == "interval" || *n == "period")
    {
        p.push((name, s.clone()));
    }
    p.extend(d.extra.iter().map(|(k, v)| (*k, (*v).to_string())));
    p
}

/// A page being stored: its row keys once on disk.
pub(crate) type Stored = tokio::task::JoinHandle<Result<Vec<RowKey>>>;

/// Progress callback: rows stored (called from the writer threads).
pub type OnRows = std::sync::Arc<dyn Fn(usize) + Send + Sync>;

/// Fetches one page and hands it to a writer thread, returning as soon as the response is in:
/// the page's concurrency slot is free while it is parsed, hashed, compressed and fsynced.
/// `writes` bounds the pages waiting for the disk.
#[allow(clippy::too_many_arguments)]
async fn fetch_page(
    client: &RestClient,
    store: &RawStore,
    job: &Job,
    key: u64,
    params: Vec<(&'static str, String)>,
    is_complete: Rule,
    writes: std::sync::Arc<tokio::sync::Semaphore>,
    on_rows: OnRows,
) -> Result<Stored> {
    let ep = job.spec.dataset.endpoint();
    let r = client.get(ep, &params).await?;
    let permit = writes.acquire_owned().await.expect("the write semaphore is never closed");
    let path = store.page_path(job.market, &job.spec.series_name(), &job.symbol, key);
    let (store, id) = (store.clone(), ep.id());
    Ok(tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let page_id = || format!("{id}: page {key}");
        let rows: Vec<RowKey> = serde_json::from_slice(&r.body)
            .map_err(|e| Error::invalid(page_id(), format!("body is not an array: {e}")))?;
        let body = String::from_utf8(r.body.to_vec()).map_err(|e| Error::invalid(page_id(), e.to_string()))?;
        let page = RestPage::new(r.url, r.status, is_complete(rows.len()), body, now_rfc3339())
            .map_err(|e| Error::invalid(page_id(), e.to_string()))?;
        store.write_page(&path, &page)?;
        on_rows(rows.len());
        Ok(rows)
    }))
}

/// Keys of pages already stored complete.
fn complete_pages(store: &RawStore, job: &Job) -> Result<BTreeMap<u64, std::path::PathBuf>> {
    let mut done = BTreeMap::new();
    for (key, path) in store.pages(job.market, &job.spec.series_name(), &job.symbol)? {
        if RawStore::read_page(&path)?.complete {
            done.insert(key, path);
        }
    }
    Ok(done)
}

/// Rows of every stored page of a series, in key order.
///
/// # Errors
/// An unreadable page, naming its file.
pub fn stored_rows(store: &RawStore, market: Market, series: &str, symbol: &str) -> Result<Vec<Value>> {
    let mut rows = Vec::new();
    for (_, path) in store.pages(market, series, symbol)? {
        rows.extend(read_rows(&path)?);
    }
    Ok(rows)
}

fn read_rows<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<Vec<T>> {
    let page = RawStore::read_page(path)?;
    serde_json::from_str(page.body.get())
        .map_err(|e| Error::invalid(path.display().to_string(), format!("unexpected body: {e}")))
}

/// Missing grid times in `[from, to)`, merged into ranges. `times` must be ascending.
#[must_use]
pub fn time_gaps(times: &[u64], from: u64, to: u64, step: u64) -> Vec<Gap> {
    let mut gaps = Vec::new();
    let mut expect = from;
    for &t in times.iter().filter(|t| **t >= from && **t < to) {
        if t > expect {
            gaps.push(Gap::Time { from_ms: expect, to_ms: t });
        }
        expect = expect.max(t + step);
    }
    if expect < to {
        gaps.push(Gap::Time { from_ms: expect, to_ms: to });
    }
    gaps
}

/// Missing aggregate ids, and trade-id discontinuities (`l + 1 != next f`), in `rows`.
#[must_use]
pub fn id_gaps(rows: &[RowKey]) -> Vec<Gap> {
    let mut gaps = Vec::new();
    for w in rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let (Some(ia), Some(ib)) = (a.a, b.a) else { continue };
        if ib > ia + 1 {
            gaps.push(Gap::Ids { from: ia + 1, to: ib });
        } else if let (Some(l), Some(f)) = (a.l, b.f)
            && ib == ia + 1
            && f > l + 1
        {
            gaps.push(Gap::Ids { from: l + 1, to: f });
        }
    }
    gaps
}

async fn first_id_at(client: &RestClient, job: &Job, t: u64, until: u64) -> Result<Option<u64>> {
    let ep = job.spec.dataset.endpoint();
    let mut start = t;
    // Binance allows at most one hour between startTime and endTime on aggTrades.
    while start < until {
        let mut p = base_params(job);
        p.extend([
            ("startTime", start.to_string()),
            ("endTime", (start + 3_599_999).to_string()),
            ("limit", "1".into()),
        ]);
        let r = client.get(ep, &p).await?;
        let v: Vec<Value> =
            serde_json::from_slice(&r.body).map_err(|e| Error::invalid(ep.id(), format!("unexpected body: {e}")))?;
        if let Some(a) = v.first().and_then(|x| x["a"].as_u64()) {
            return Ok(Some(a));
        }
        start += 3_600_000;
    }
    Ok(None)
}

/// A job with its plan: the pages still to fetch, and the report so far.
pub(crate) struct Planned {
    pub job: Job,
    /// Pages not yet stored complete, in key order.
    pub todo: Vec<Page>,
    /// Effective `[from, to)`: clipped to the server time and to Binance's retention.
    pub from: u64,
    pub to: u64,
    pub report: Report,
    pub t0: Instant,
}

impl Planned {
    /// Rows the job should end with, for a progress bar: exact for a time grid, the pages'
    /// capacity for ids.
    #[must_use]
    pub fn estimate(&self) -> u64 {
        match self.job.spec.step_ms {
            0 => self.report.pages as u64 * u64::from(self.report.page_limit),
            step => self.to.saturating_sub(self.from) / step,
        }
    }
}

/// Lays out the pages of `job` on its grid, given Binance's clock `now`.
///
/// # Errors
/// Reading the pages already stored, or the id lookups of an id-paged series.
pub(crate) async fn plan(client: &RestClient, store: &RawStore, job: &Job, now: u64) -> Result<Planned> {
    let t0 = Instant::now();
    let spec = &job.spec;
    let limit = spec.page_limit();
    let mut from = job.from_ms;
    let to = job.to_ms.min(now);
    let mut clipped = None;
    if let Some(days) = spec.dataset.retention_days {
        let earliest = now.saturating_sub(days * 86_400_000);
        if from < earliest {
            log::warn!(
                "{} {}: Binance keeps {} only {days} days; requested from {from}, fetching from {earliest}",
                job.market,
                job.symbol,
                spec.dataset.series
            );
            from = earliest;
            clipped = Some(earliest);
        }
    }
    let done = complete_pages(store, job)?;
    let mut report = Report {
        market: job.market,
        symbol: job.symbol.to_ascii_uppercase(),
        series: spec.series_name(),
        page_limit: limit,
        pages: 0,
        fetched: 0,
        skipped: 0,
        rows: 0,
        gaps: Vec::new(),
        clipped_from_ms: clipped,
        errors: Vec::new(),
        elapsed_ms: 0,
    };
    let mut plan: Vec<Page> = Vec::new();
    match spec.dataset.paging {
        Paging::Time => {
            let step = spec.step_ms;
            let span = u64::from(limit) * step;
            let from0 = from - from % step;
            let mut key = from0 - from0 % span;
            while key < to {
                let mut p = base_params(job);
                p.extend([
                    ("startTime", key.to_string()),
                    ("endTime", (key + span - 1).to_string()),
                    ("limit", limit.to_string()),
                ]);
                let complete = key + span <= now;
                plan.push((key, p, Box::new(move |_| complete)));
                key += span;
            }
        }
        Paging::Id => {
            if let Some(first) = first_id_at(client, job, from, to).await? {
                let next = first_id_at(client, job, to, now).await?;
                let last = match next {
                    Some(n) => n.saturating_sub(1),
                    None => {
                        let mut p = base_params(job);
                        p.push(("limit", "1".into()));
                        let r = client.get(spec.dataset.endpoint(), &p).await?;
                        let v: Vec<Value> = serde_json::from_slice(&r.body).unwrap_or_default();
                        v.first().and_then(|x| x["a"].as_u64()).unwrap_or(first)
                    }
                };
                let l = u64::from(limit);
                let mut key = first - first % l;
                while key <= last {
                    let mut p = base_params(job);
                    p.extend([("fromId", key.to_string()), ("limit", limit.to_string())]);
                    let full = limit as usize;
                    plan.push((key, p, Box::new(move |rows: usize| rows == full)));
                    key += l;
                }
            }
        }
    }
    report.pages = plan.len();
    let todo: Vec<Page> = plan.into_iter().filter(|(k, _, _)| !done.contains_key(k)).collect();
    report.skipped = report.pages - todo.len();
    Ok(Planned { job: job.clone(), todo, from, to, report, t0 })
}

/// Fetches one planned page of `job` (see [`fetch_page`]).
pub(crate) async fn fetch(
    client: &RestClient,
    store: &RawStore,
    job: &Job,
    page: Page,
    writes: std::sync::Arc<tokio::sync::Semaphore>,
    on_rows: OnRows,
) -> (u64, Result<Stored>) {
    let (key, params, rule) = page;
    (key, fetch_page(client, store, job, key, params, rule, writes, on_rows).await)
}

/// The report of a planned job once its fetched pages are in: rows and gaps over the whole
/// requested range, from what is now stored (the pages just fetched are already parsed, the
/// others are read back). Blocking: reads pages from disk.
///
/// # Errors
/// A stored page that cannot be read back.
pub(crate) fn finish(store: &RawStore, planned: Planned, results: Vec<(u64, Result<Vec<RowKey>>)>) -> Result<Report> {
    let Planned { job, from, to, mut report, t0, .. } = planned;
    let spec = &job.spec;
    let mut rows = Vec::new();
    let mut fetched = std::collections::BTreeSet::new();
    for (key, r) in results {
        match r {
            Ok(keys) => {
                report.fetched += 1;
                fetched.insert(key);
                rows.extend(keys);
            }
            Err(e) => report.errors.push(e.to_string()),
        }
    }
    for (key, path) in store.pages(job.market, &spec.series_name(), &job.symbol)? {
        if !fetched.contains(&key) {
            rows.extend(read_rows::<RowKey>(&path)?);
        }
    }
    match spec.dataset.paging {
        Paging::Time => {
            let mut times: Vec<u64> = rows.iter().filter_map(|r| r.time).filter(|t| *t >= from && *t < to).collect();
            times.sort_unstable();
            times.dedup();
            report.rows = times.len();
            // Funding has no fixed grid (intervals change per symbol): no gap rule for it.
            if !matches!(spec.dataset.page_step, PageStep::Fixed(_)) {
                let step = spec.step_ms;
                let first = from.div_ceil(step) * step;
                report.gaps = time_gaps(&times, first, to - to % step, step);
            }
        }
        Paging::Id => {
            let mut in_range: Vec<RowKey> =
                rows.into_iter().filter(|r| r.time.is_some_and(|t| t >= from && t < to)).collect();
            in_range.sort_by_key(|r| r.a);
            in_range.dedup_by_key(|r| r.a);
            report.rows = in_range.len();
            report.gaps = id_gaps(&in_range);
        }
    }
    report.elapsed_ms = t0.elapsed().as_millis() as u64;
    Ok(report)
}

/// Backfills one series into the raw archive (one job of [`crate::schedule::run_all`]).
///
/// # Errors
/// Only errors before paging (server time, id lookup); failed pages are listed in the report
/// and fetched again by the next run.
pub async fn run(
    client: &RestClient,
    store: &RawStore,
    job: &Job,
    concurrency: usize,
    on_rows: OnRows,
) -> Result<Report> {
    let progress = std::sync::Arc::new(crate::schedule::RowsOnly(on_rows));
    let mut reports = crate::schedule::run_all(client, store, std::slice::from_ref(job), concurrency, progress).await?;
    reports.pop().expect("one report per job")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn time_gaps_merge_missing_steps() {
        let t = [0, 60, 180, 240];
        assert_eq!(
            time_gaps(&t, 0, 360, 60),
            vec![Gap::Time { from_ms: 120, to_ms: 180 }, Gap::Time { from_ms: 300, to_ms: 360 }]
        );
        assert!(time_gaps(&t[..2], 0, 120, 60).is_empty());
    }

    #[test]
    fn id_gaps_find_missing_aggregates_and_trade_ids() {
        let rows: Vec<RowKey> = serde_json::from_value(json!([
            {"a": 1, "f": 10, "l": 11, "T": 5, "m": true},
            {"a": 2, "f": 12, "l": 12, "T": 5, "p": "1.0"},
            {"a": 3, "f": 15, "l": 15, "T": 6},
            {"a": 6, "f": 16, "l": 16, "T": 7},
        ]))
        .unwrap();
        assert_eq!(id_gaps(&rows), vec![Gap::Ids { from: 13, to: 15 }, Gap::Ids { from: 4, to: 6 }]);
    }

    #[test]
    fn row_keys_read_klines_objects_and_odd_fields() {
        let rows: Vec<RowKey> = serde_json::from_str(
            r#"[[1700000000000,"1.0","2.0","0.5","1.5","10",1700000059999,"15",3,"5","7","0"],
               {"symbol":"BTCUSDT","fundingTime":1700000000000,"fundingRate":"0.0001","markPrice":"1"},
               {"symbol":"BTCUSDT","sumOpenInterest":"1","timestamp":1700000300000},
               {"a":7,"T":"not a number"},
               ["x"]]"#,
        )
        .unwrap();
        let times: Vec<Option<u64>> = rows.iter().map(|r| r.time).collect();
        assert_eq!(times, [Some(1_700_000_000_000), Some(1_700_000_000_000), Some(1_700_000_300_000), None, None]);
        assert_eq!(rows[3].a, Some(7));
    }
}
