//! Many backfill jobs (symbols × series) through one client and its shared weight limiter,
//! interleaved: a window of jobs sends one page each in turn, and a job that has sent its last
//! page makes room for the next ([`interleave`]).
//!
//! Why interleaved rather than symbol after symbol: the pages in flight never drain between
//! symbols (no per-symbol tail of waiting for its last page), a weight-limited series (klines)
//! and a request-bucket-limited one (funding) make progress together, so the whole run
//! approaches the weight-budget bound; and only the jobs of the window hold row keys in memory
//! while their reports are built.

use std::{collections::VecDeque, sync::Arc};

use binance::{Market, rest::RestClient};
use futures::StreamExt;

use crate::{
    backfill::{self, Job, OnRows, Planned, Report, Stored},
    error::{Error, Result},
    raw::RawStore,
};

/// What a run tells its caller while it goes (called from async tasks and writer threads).
pub trait Progress: Send + Sync {
    /// Job `job` sends its first page; it should end with about `rows` rows.
    fn started(&self, _job: usize, _rows: u64) {}
    /// `n` more rows of job `job` are stored.
    fn rows(&self, _job: usize, _n: usize) {}
    /// Job `job` is done (its report is final).
    fn finished(&self, _job: usize, _report: &Report) {}
}

/// Only the row counts, to one callback (what [`backfill::run`] takes).
pub struct RowsOnly(pub OnRows);

impl std::fmt::Debug for RowsOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowsOnly")
    }
}

impl Progress for RowsOnly {
    fn rows(&self, _job: usize, n: usize) {
        (self.0)(n);
    }
}

/// The order pages are sent in, as `(job, page)`: at most `width` jobs open at a time, each
/// sending one page in turn; a job that has sent its last page makes room for the next job.
/// Pages of one job keep their order.
#[must_use]
pub fn interleave(pages: &[usize], width: usize) -> Vec<(usize, usize)> {
    let mut waiting = (0..pages.len()).filter(|&j| pages[j] > 0);
    let mut open: VecDeque<(usize, usize)> = VecDeque::new();
    let mut out = Vec::with_capacity(pages.iter().sum());
    loop {
        while open.len() < width.max(1) {
            match waiting.next() {
                Some(j) => open.push_back((j, 0)),
                None => break,
            }
        }
        let Some((j, k)) = open.pop_front() else { break };
        out.push((j, k));
        if k + 1 < pages[j] {
            open.push_back((j, k + 1));
        }
    }
    out
}

/// The report of a job once all its pages are in: waits for its page writers, then reads the
/// rest back on a blocking thread.
async fn finish(
    store: RawStore,
    planned: Planned,
    stored: Vec<(u64, Result<Stored>)>,
    progress: Arc<dyn Progress>,
    job: usize,
) -> Result<Report> {
    let mut results = Vec::with_capacity(stored.len());
    for (key, p) in stored {
        let r = match p {
            Ok(h) => h.await.unwrap_or_else(|e| Err(Error::invalid(format!("page {key}"), format!("writer: {e}")))),
            Err(e) => Err(e),
        };
        results.push((key, r));
    }
    let label = format!("{} {} {}", planned.job.market, planned.job.symbol, planned.job.spec);
    let report = tokio::task::spawn_blocking(move || backfill::finish(&store, planned, results))
        .await
        .map_err(|e| Error::invalid(label, format!("report: {e}")))??;
    progress.finished(job, &report);
    Ok(report)
}

/// Backfills every job, `concurrency` pages in flight, [`interleave`]d `concurrency` jobs
/// wide. Returns one result per job, in job order: `Err` for a job that could not be planned
/// (an id lookup failed); failed pages are listed in the job's report and fetched again by the
/// next run.
///
/// # Errors
/// Binance's server time could not be read.
pub async fn run_all(
    client: &RestClient,
    store: &RawStore,
    jobs: &[Job],
    concurrency: usize,
    progress: Arc<dyn Progress>,
) -> Result<Vec<Result<Report>>> {
    let concurrency = concurrency.max(1);
    let mut clocks: Vec<(Market, u64)> = Vec::new();
    for job in jobs {
        if !clocks.iter().any(|(m, _)| *m == job.market) {
            clocks.push((job.market, backfill::server_time(client, job.market).await?));
        }
    }
    let now = |m: Market| clocks.iter().find(|(x, _)| *x == m).map_or(0, |(_, t)| *t);
    let plans: Vec<Result<Planned>> = futures::stream::iter(jobs)
        .map(|job| backfill::plan(client, store, job, now(job.market)))
        .buffered(concurrency)
        .collect()
        .await;

    let n = jobs.len();
    let mut results: Vec<Option<Result<Report>>> = (0..n).map(|_| None).collect();
    let mut finishing = Vec::new();
    let (mut queues, mut metas, mut estimates) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for (j, plan) in plans.into_iter().enumerate() {
        match plan {
            Ok(mut p) => {
                let todo = std::mem::take(&mut p.todo);
                estimates.push(p.estimate());
                if todo.is_empty() {
                    progress.started(j, p.estimate());
                    finishing.push((j, tokio::spawn(finish(store.clone(), p, Vec::new(), progress.clone(), j))));
                    metas.push(None);
                } else {
                    metas.push(Some(p));
                }
                queues.push(VecDeque::from(todo));
            }
            Err(e) => {
                results[j] = Some(Err(e));
                estimates.push(0);
                metas.push(None);
                queues.push(VecDeque::new());
            }
        }
    }
    let counts: Vec<usize> = queues.iter().map(VecDeque::len).collect();
    let order = interleave(&counts, concurrency);
    let writes = Arc::new(tokio::sync::Semaphore::new(2 * concurrency));
    let on_rows: Vec<OnRows> = (0..n)
        .map(|j| {
            let p = progress.clone();
            Arc::new(move |rows| p.rows(j, rows)) as OnRows
        })
        .collect();
    let mut started = vec![false; n];
    let mut fetches = futures::stream::iter(order)
        .map(|(j, _)| {
            let page = queues[j].pop_front().expect("the order has one slot per planned page");
            if !std::mem::replace(&mut started[j], true) {
                progress.started(j, estimates[j]);
            }
            let (writes, on_rows, job) = (writes.clone(), on_rows[j].clone(), &jobs[j]);
            async move {
                let (key, r) = backfill::fetch(client, store, job, page, writes, on_rows).await;
                (j, key, r)
            }
        })
        .buffer_unordered(concurrency);
    let mut pending: Vec<Vec<(u64, Result<Stored>)>> = (0..n).map(|_| Vec::new()).collect();
    let mut left = counts;
    while let Some((j, key, r)) = fetches.next().await {
        pending[j].push((key, r));
        left[j] -= 1;
        if left[j] == 0 {
            let planned = metas[j].take().expect("a job finishes once");
            let stored = std::mem::take(&mut pending[j]);
            finishing.push((j, tokio::spawn(finish(store.clone(), planned, stored, progress.clone(), j))));
        }
    }
    for (j, h) in finishing {
        results[j] = Some(h.await.unwrap_or_else(|e| Err(Error::invalid(format!("job {j}"), format!("report: {e}")))));
    }
    Ok(results.into_iter().map(|r| r.expect("every job has a result")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_alternate_between_the_open_jobs() {
        assert_eq!(interleave(&[3, 3], 2), [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]);
        // Job 2 done after its one page makes room for job 3; job 1 has nothing to send.
        assert_eq!(interleave(&[2, 0, 1, 2], 2), [(0, 0), (2, 0), (0, 1), (3, 0), (3, 1)]);
        assert_eq!(interleave(&[2, 1], 1), [(0, 0), (0, 1), (1, 0)], "width 1 is job after job");
    }

    #[test]
    fn every_page_once_in_order_and_never_more_than_width_jobs_open() {
        let pages = [5, 1, 0, 7, 3, 3, 2, 9];
        for width in 1..=5 {
            let order = interleave(&pages, width);
            assert_eq!(order.len(), pages.iter().sum::<usize>());
            for (j, &n) in pages.iter().enumerate() {
                let mine: Vec<usize> = order.iter().filter(|(x, _)| *x == j).map(|(_, k)| *k).collect();
                assert_eq!(mine, (0..n).collect::<Vec<_>>(), "job {j}");
            }
            for i in 0..order.len() {
                // Jobs that have sent a page by i and still have pages after it.
                let open = (0..pages.len())
                    .filter(|&j| {
                        order[..=i].iter().any(|(x, _)| *x == j) && order[i + 1..].iter().any(|(x, _)| *x == j)
                    })
                    .count();
                assert!(open <= width, "width {width}: {open} open at {i}");
            }
        }
    }
}
