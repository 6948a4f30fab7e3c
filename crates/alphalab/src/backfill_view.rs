//! What the terminal shows of `alphalab backfill`: an overall bar and one bar per series in
//! progress while it runs, then a summary. A few series get a line each; a universe gets one
//! line per series kind, its members (delisted and newly listed ones named) and only the series
//! with gaps or failed pages. Every report's details go to the log.

use std::{collections::HashMap, sync::Mutex};

use binance::Market;
use data::{
    backfill::{Gap, Report},
    schedule::Progress,
    universe::Member,
};
use indicatif::{MultiProgress, ProgressBar};

use crate::console::{self, progress, thousands};

/// Up to this many series are summarised one line each.
const LINES: usize = 12;

/// The live bars of one backfill run (a [`Progress`] of the scheduler).
#[derive(Debug)]
pub struct Board {
    multi: MultiProgress,
    overall: ProgressBar,
    labels: Vec<String>,
    open: Mutex<HashMap<usize, ProgressBar>>,
}

impl Board {
    /// Bars for jobs labelled `labels`, `total_rows` expected in all.
    #[must_use]
    pub fn new(labels: Vec<String>, total_rows: u64) -> Self {
        let multi = console::board();
        let overall = multi.add(progress(total_rows, &format!("all {} series", labels.len()), "rows"));
        Self { multi, overall, labels, open: Mutex::default() }
    }

    pub fn finish(&self) {
        self.overall.finish_and_clear();
    }
}

impl Progress for Board {
    fn started(&self, job: usize, rows: u64) {
        let bar = self.multi.insert_before(&self.overall, progress(rows, &self.labels[job], "rows"));
        self.open.lock().expect("bars lock").insert(job, bar);
    }

    fn rows(&self, job: usize, n: usize) {
        self.overall.inc(n as u64);
        if let Some(bar) = self.open.lock().expect("bars lock").get(&job) {
            bar.inc(n as u64);
        }
    }

    fn finished(&self, job: usize, report: &Report) {
        if let Some(bar) = self.open.lock().expect("bars lock").remove(&job) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        log_report(report);
    }
}

/// One report in the log: pages, rows, retention clip, gaps, errors.
pub fn log_report(r: &Report) {
    log::info!(
        "backfill {} {} {}: {} pages of {} ({} fetched, {} already complete), {} rows in {:.1} s",
        r.market,
        r.symbol,
        r.series,
        r.pages,
        r.page_limit,
        r.fetched,
        r.skipped,
        r.rows,
        r.elapsed_ms as f64 / 1e3
    );
    if let Some(t) = r.clipped_from_ms {
        log::warn!("backfill {} {}: Binance keeps this series only 30 days: data starts at {t} ms", r.symbol, r.series);
    }
    for g in &r.gaps {
        match g {
            Gap::Time { from_ms, to_ms } => {
                log::warn!("gap {} {}: no data in [{from_ms}, {to_ms}) ms", r.symbol, r.series);
            }
            Gap::Ids { from, to } => log::warn!("gap {} {}: ids [{from}, {to}) missing", r.symbol, r.series),
        }
    }
    for e in &r.errors {
        log::error!("backfill {} {}: {e}", r.symbol, r.series);
    }
}

fn report_line(r: &Report) -> String {
    let gaps = if r.gaps.is_empty() { String::new() } else { format!(", {} gaps (see the log)", r.gaps.len()) };
    let errors = if r.errors.is_empty() { String::new() } else { format!(", {} pages FAILED", r.errors.len()) };
    format!(
        "{} {}: {} rows, {} pages ({} fetched) in {:.1} s{gaps}{errors}",
        r.symbol,
        r.series,
        thousands(r.rows as u64),
        r.pages,
        r.fetched,
        r.elapsed_ms as f64 / 1e3
    )
}

/// `A, B, C` or `12 symbols` when there are many.
fn names(list: &[&Member]) -> String {
    if list.len() <= 8 {
        list.iter().map(|m| m.symbol.as_str()).collect::<Vec<_>>().join(", ")
    } else {
        format!("{} symbols (see the log)", list.len())
    }
}

/// The universe's line: members, and those that started or stopped trading inside the range.
#[must_use]
pub fn universe_line(market: Market, what: &str, members: &[Member], from_ms: u64, to_ms: u64) -> String {
    let listed: Vec<&Member> = members.iter().filter(|m| m.from_ms > from_ms).collect();
    let delisted: Vec<&Member> = members.iter().filter(|m| m.to_ms < to_ms).collect();
    let mut line = format!("universe {what}: {} {market} symbols", members.len());
    if !listed.is_empty() {
        line.push_str(&format!("; listed in the range: {}", names(&listed)));
    }
    if !delisted.is_empty() {
        line.push_str(&format!("; delisted in the range (fetched until their delisting): {}", names(&delisted)));
    }
    line
}

/// The summary lines of the reports: one per report when few, else one per series kind plus
/// the reports with gaps or failures.
#[must_use]
pub fn summary(reports: &[Report]) -> Vec<String> {
    if reports.len() <= LINES {
        return reports.iter().map(report_line).collect();
    }
    let mut kinds: Vec<&str> = reports.iter().map(|r| r.series.as_str()).collect();
    kinds.dedup();
    kinds.sort_unstable();
    kinds.dedup();
    let mut lines: Vec<String> = kinds
        .iter()
        .map(|k| {
            let of: Vec<&Report> = reports.iter().filter(|r| r.series == *k).collect();
            let sum = |f: fn(&Report) -> usize| of.iter().map(|r| f(r)).sum::<usize>();
            format!(
                "{k}: {} symbols, {} rows, {} pages ({} fetched), {} with gaps, {} with failed pages",
                of.len(),
                thousands(sum(|r| r.rows) as u64),
                thousands(sum(|r| r.pages) as u64),
                thousands(sum(|r| r.fetched) as u64),
                of.iter().filter(|r| !r.gaps.is_empty()).count(),
                of.iter().filter(|r| !r.errors.is_empty()).count(),
            )
        })
        .collect();
    lines.extend(reports.iter().filter(|r| !r.gaps.is_empty() || !r.errors.is_empty()).take(LINES).map(report_line));
    lines
}
