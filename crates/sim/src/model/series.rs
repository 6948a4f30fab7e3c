//! Per-minute series, their caches and exact range statistics: klines of any interval, tickers
//! and paging by id all reduce to "minutes of trades", rolled up through minute and hour caches.

use super::{
    MINUTE, Model, Series, Venue,
    path::Haar,
    trades::{Agg, AggTrade, Kline, Trade, group},
};

const HOUR: u64 = 3_600_000;
const WEEK: u64 = 604_800_000;
/// Epoch was a Thursday; Binance weeks open on Monday.
const WEEK_OFFSET: u64 = 4 * 86_400_000;
/// Cache entries kept before a cache is dropped wholesale (bounded memory, simple eviction).
pub(crate) const CACHE_CAP: usize = 2_000_000;

/// Grid points `first + k·step` within `[first, last]`, filtered by Binance's paging rules:
/// `start` ⇒ the first `limit` at or after it; else `end` ⇒ the last `limit` at or before it;
/// neither ⇒ the last `limit`. Both bounds are inclusive.
#[must_use]
pub fn grid_page(first: u64, last: u64, step: u64, start: Option<u64>, end: Option<u64>, limit: u32) -> Vec<u64> {
    if last < first || limit == 0 {
        return Vec::new();
    }
    let up = |t: u64| if t <= first { first } else { first + (t - first).div_ceil(step) * step };
    let down = |t: u64| first + (t - first) / step * step;
    let lo = start.map_or(first, up);
    let hi = end.map_or(last, |e| if e < first { 0 } else { down(e).min(last) });
    if end.is_some_and(|e| e < first) || lo > hi {
        return Vec::new();
    }
    let span = u64::from(limit - 1) * step;
    let (a, b) = if start.is_some() { (lo, hi.min(lo + span)) } else { (lo.max(hi.saturating_sub(span)), hi) };
    (a..=b).step_by(step as usize).collect()
}

/// The open time of the kline of length `interval` containing `t`.
#[must_use]
pub fn kline_open(t: u64, interval: u64) -> u64 {
    let off = if interval == WEEK { WEEK_OFFSET } else { 0 };
    t - (t + interval - off % interval) % interval
}

impl Model {
    /// Raw units (trades or price samples) of minute `m`, ascending by time.
    pub(crate) fn series_minute(&self, s: usize, series: Series, m: u64) -> Vec<Trade> {
        match series {
            Series::Trades(v) => self.minute_trades(s, v, m),
            Series::Index | Series::Mark => self.samples(s, series, m),
        }
    }

    fn cached(&self, hours: bool, k: (usize, Series, u64), f: impl FnOnce() -> Agg) -> Agg {
        let cache = if hours { &self.hours } else { &self.minutes };
        cache.get_or(k, f)
    }

    fn minute_agg(&self, s: usize, series: Series, m: u64) -> Agg {
        self.cached(false, (s, series, m), || Agg::of(&self.series_minute(s, series, m)))
    }

    fn hour_agg(&self, s: usize, series: Series, h: u64) -> Agg {
        self.cached(true, (s, series, h), || {
            let mut a = Agg::default();
            (h * 60..h * 60 + 60).for_each(|m| a.merge(&self.minute_agg(s, series, m)));
            a
        })
    }

    /// Exact statistics of the series over `[from, to)` (clipped to the history and the
    /// symbol's life).
    pub(crate) fn stats(&self, s: usize, series: Series, from: u64, to: u64) -> Agg {
        let (mut t, to) = self.clip(s, from, to);
        let mut agg = Agg::default();
        while t < to {
            let m = self.minute(t);
            let ms = self.minute_start(m);
            if t == ms && m.is_multiple_of(60) && ms + HOUR <= to {
                agg.merge(&self.hour_agg(s, series, m / 60));
                t += HOUR;
            } else if t == ms && ms + MINUTE <= to {
                agg.merge(&self.minute_agg(s, series, m));
                t += MINUTE;
            } else {
                let end = (ms + MINUTE).min(to);
                self.series_minute(s, series, m)
                    .iter()
                    .filter(|u| u.time >= t && u.time < end)
                    .for_each(|u| agg.push(u));
                t = end;
            }
        }
        agg
    }

    /// Statistics of `series` of `symbol` over `[from, to)`: ground truth for klines and tickers.
    #[must_use]
    pub fn range_stats(&self, symbol: &str, series: Series, from: u64, to: u64) -> Option<Agg> {
        self.index_of(symbol).map(|s| self.stats(s, series, from, to))
    }

    /// Price of the last unit strictly before `t` (and before the delisting), if any.
    pub(crate) fn last_price_before(&self, s: usize, series: Series, t: u64) -> Option<u64> {
        let hs = self.cfg.history_start_ms.max(self.life_of(s).listed_ms);
        let t = t.min(self.life_of(s).end());
        let mut m = self.minute(t.checked_sub(1).filter(|&x| x >= hs)?);
        let first = self.first_minute(s);
        loop {
            if let Some(u) = self.series_minute(s, series, m).iter().rev().find(|u| u.time < t) {
                return Some(u.price);
            }
            m = m.checked_sub(1).filter(|&m| m >= first)?;
        }
    }

    /// The kline opening at `open`, aggregating what happened before `now`.
    pub(crate) fn kline_at(&self, s: usize, series: Series, open: u64, interval: u64, now: u64) -> Kline {
        let from = open.max(self.cfg.history_start_ms).max(self.life_of(s).listed_ms);
        let mut agg = self.stats(s, series, from, (open + interval).min(now));
        if agg.is_empty() {
            let p = self.last_price_before(s, series, from).unwrap_or_default();
            (agg.open, agg.high, agg.low, agg.close) = (p, p, p, p);
        }
        Kline { open_time: open, close_time: open + interval - 1, agg }
    }

    /// A page of klines under Binance's startTime/endTime/limit rules; the newest may be open.
    /// Only the symbol's life has klines: the first opens at the listing, the last holds the
    /// trades before the delisting.
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub fn klines(
        &self,
        symbol: &str,
        series: Series,
        interval: u64,
        start: Option<u64>,
        end: Option<u64>,
        limit: u32,
        now: u64,
    ) -> Option<Vec<Kline>> {
        let s = self.index_of(symbol)?;
        let (hs, now) = self.clip(s, 0, now);
        if now <= hs {
            return Some(Vec::new());
        }
        let (first, last) = (kline_open(hs, interval), kline_open(now - 1, interval));
        let opens = grid_page(first, last, interval, start, end, limit);
        Some(opens.into_iter().map(|o| self.kline_at(s, series, o, interval, now)).collect())
    }

    /// All trades of `venue` with time in `[start, end)`.
    #[must_use]
    pub fn trades(&self, symbol: &str, venue: Venue, start: u64, end: u64) -> Vec<Trade> {
        let Some(s) = self.index_of(symbol) else { return Vec::new() };
        let (start, end) = self.clip(s, start, end);
        if end <= start {
            return Vec::new();
        }
        (self.minute(start)..=self.minute(end - 1))
            .flat_map(|m| self.minute_trades(s, venue, m))
            .filter(|t| t.time >= start && t.time < end)
            .collect()
    }

    /// Aggregate trades with time in `[start, end)`.
    #[must_use]
    pub fn agg_trades(&self, symbol: &str, venue: Venue, start: u64, end: u64) -> Vec<AggTrade> {
        group(&self.trades(symbol, venue, start, end))
    }

    /// Walks minutes forward from `m0` (or backward from the minute before `now` when
    /// `forward == false`), keeping items before `now` that pass `keep`, up to `limit`.
    #[allow(clippy::too_many_arguments)]
    fn walk<T: Copy>(
        &self,
        s: usize,
        venue: Venue,
        m0: Option<u64>,
        now: u64,
        limit: usize,
        unit: impl Fn(Vec<Trade>) -> Vec<(u64, T)>,
        keep: impl Fn(&T) -> bool,
    ) -> Vec<T> {
        let (hs, end) = self.clip(s, 0, now);
        if end <= hs || limit == 0 {
            return Vec::new();
        }
        let last = self.minute(end - 1);
        let first = self.first_minute(s);
        let mut out = Vec::new();
        let items = |m| unit(self.minute_trades(s, venue, m)).into_iter().filter(|(t, x)| *t < now && keep(x));
        match m0 {
            Some(m0) => {
                for m in m0..=last {
                    out.extend(items(m).map(|(_, x)| x).take(limit - out.len()));
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            None => {
                for m in (first..=last).rev() {
                    let mut v: Vec<T> = items(m).map(|(_, x)| x).collect();
                    let need = limit - out.len();
                    out.extend(v.drain(v.len().saturating_sub(need)..).rev());
                    if out.len() >= limit {
                        break;
                    }
                }
                out.reverse();
            }
        }
        out
    }

    fn id_minute(&self, s: usize, venue: Venue, id: u64, now: u64, aggs: bool) -> Option<u64> {
        let (hs, end) = self.clip(s, 0, now);
        let last = self.minute(end.checked_sub(1)?.max(hs));
        let prefix = |m| {
            let (t, a) = self.first_ids(s, venue, m);
            if aggs { a } else { t }
        };
        (id < prefix(last + 1)).then(|| Haar::locate_by(id, last, prefix))
    }

    /// Trades with id `>= from_id` (or the most recent when `None`), at most `limit`, before `now`.
    #[must_use]
    pub fn trade_page(&self, symbol: &str, venue: Venue, from_id: Option<u64>, limit: u32, now: u64) -> Vec<Trade> {
        let Some(s) = self.index_of(symbol) else { return Vec::new() };
        let m0 = match from_id {
            Some(id) => match self.id_minute(s, venue, id, now, false) {
                Some(m) => Some(m),
                None => return Vec::new(),
            },
            None => None,
        };
        let min_id = from_id.unwrap_or(0);
        let unit = |v: Vec<Trade>| v.into_iter().map(|t| (t.time, t)).collect();
        self.walk(s, venue, m0, now, limit as usize, unit, |t: &Trade| t.id >= min_id)
    }

    /// Aggregate trades by Binance's aggTrades rules: `from_id` ⇒ ids `>=` it; else a time
    /// window `[start, end]` (inclusive); else the most recent `limit`.
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub fn agg_page(
        &self,
        symbol: &str,
        venue: Venue,
        from_id: Option<u64>,
        start: Option<u64>,
        end: Option<u64>,
        limit: u32,
        now: u64,
    ) -> Vec<AggTrade> {
        let Some(s) = self.index_of(symbol) else { return Vec::new() };
        let m0 = if let Some(id) = from_id {
            match self.id_minute(s, venue, id, now, true) {
                Some(m) => Some(m),
                None => return Vec::new(),
            }
        } else if let Some(st) = start {
            Some(self.minute(self.clip(s, st, u64::MAX).0))
        } else if let Some(e) = end {
            // only an end: the newest `limit` at or before it
            return self.agg_page(symbol, venue, None, None, None, limit, now.min(e.saturating_add(1)));
        } else {
            None
        };
        let (min_id, lo, hi) = (from_id.unwrap_or(0), if from_id.is_some() { 0 } else { start.unwrap_or(0) }, end);
        let hi = if from_id.is_some() { u64::MAX } else { hi.unwrap_or(u64::MAX) };
        let now = now.min(hi.saturating_add(1));
        let unit = |v: Vec<Trade>| group(&v).into_iter().map(|a| (a.time, a)).collect();
        self.walk(s, venue, m0, now, limit as usize, unit, |a: &AggTrade| a.id >= min_id && a.time >= lo)
    }
}

impl Haar {
    /// Largest `m` in `0..=hi` with `prefix(m) <= idx` for any monotone prefix function.
    pub fn locate_by(idx: u64, hi: u64, prefix: impl Fn(u64) -> u64) -> u64 {
        let (mut lo, mut hi) = (0u64, hi);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if prefix(mid) <= idx { lo = mid } else { hi = mid - 1 }
        }
        lo
    }
}

impl Model {
    /// Price of the last trade (or sample) of `series` strictly before `t`.
    #[must_use]
    pub fn last_close_before(&self, symbol: &str, series: Series, t: u64) -> Option<u64> {
        self.last_price_before(self.index_of(symbol)?, series, t)
    }
}
