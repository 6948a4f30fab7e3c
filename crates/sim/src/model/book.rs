//! Order books: each venue's book at any instant ([`Model::depth`]), as a pure function of its
//! 100 ms bucket, so that REST `/depth` and the `@depth` diff stream agree at every update id.
//!
//! - A bucket `b` has one update id, [`Model::update_id`]: strictly increasing, 1 to 7 apart
//!   (the individual updates one 100 ms event aggregates), so the stream's `U = previous u + 1`
//!   (spot) and `pu = previous u` (USD-M) chains hold.
//! - The book is every level inside [`WINDOW_TICKS`] of the best price on each side: a finite
//!   book (≈ 270 levels a side), so a REST snapshot of limit 1000 holds all of it and a diff
//!   event can list every level that changed.
//! - A level's quantity depends only on its price and its epoch, a [`LEVEL_LIFE`]-bucket period
//!   staggered by price, so a diff holds a few dozen levels (levels renewed, levels crossing the
//!   moving best prices or the window's far edge), as a real book's does.

use super::{
    Depth, Model, Venue,
    rng::{mix, unit},
};

/// Length of a book bucket: one update id, one diff event.
pub const BUCKET_MS: u64 = 100;
/// Price window of each side, in ticks from its best price.
pub const WINDOW_TICKS: u64 = 400;
/// Buckets a level keeps its quantity (the phase is staggered per price).
const LEVEL_LIFE: u64 = 20;
/// Update id of bucket 0 (plus its jitter).
const FIRST_UPDATE_ID: u64 = 1_000_000;
/// Update ids reserved per bucket.
const IDS_PER_BUCKET: u64 = 4;

impl Model {
    /// The book whose update id is `update_id`, `None` if no bucket has that id (an id inside
    /// an event's range, or before the history start).
    #[must_use]
    pub fn depth_at_update(&self, symbol: &str, venue: Venue, update_id: u64, levels: usize) -> Option<Depth> {
        let s = self.index_of(symbol)?;
        let bucket = update_id.checked_sub(FIRST_UPDATE_ID)? / IDS_PER_BUCKET;
        let d = self.book(s, venue, bucket, levels);
        (d.update_id == update_id).then_some(d)
    }

    /// The bucket holding `t`.
    pub(crate) fn bucket(&self, t: u64) -> u64 {
        t.saturating_sub(self.cfg.history_start_ms) / BUCKET_MS
    }

    fn bucket_key(&self, s: usize, venue: Venue, bucket: u64) -> u64 {
        self.key(s, &[10, venue as u64, bucket])
    }

    /// Update id of `bucket`.
    fn update_id(&self, s: usize, venue: Venue, bucket: u64) -> u64 {
        FIRST_UPDATE_ID + bucket * IDS_PER_BUCKET + self.bucket_key(s, venue, bucket) % IDS_PER_BUCKET
    }

    /// The book of bucket `bucket` (empty outside the symbol's life; the update id goes on).
    pub(crate) fn book(&self, s: usize, venue: Venue, bucket: u64, levels: usize) -> Depth {
        let update_id = self.update_id(s, venue, bucket);
        let t = self.cfg.history_start_ms + bucket * BUCKET_MS;
        if !self.life_of(s).trades_at(t) {
            return Depth { update_id, bids: Vec::new(), asks: Vec::new() };
        }
        let c = self.contract(s, venue.market());
        let h = self.bucket_key(s, venue, bucket);
        let mid_ticks = self.mid(s, venue, t) * 10f64.powi(c.price_decimals as i32) / c.tick as f64;
        let bid = (mid_ticks.floor() as u64).saturating_sub(h % 2).max(2);
        let ask = mid_ticks.floor() as u64 + 1 + u64::from(h.is_multiple_of(4));
        let lk = self.key(s, &[11, venue as u64]);
        // Quantity of the level at `p` ticks in this bucket; the best level is always present.
        let level = |p: u64, best: bool| -> Option<(u64, u64)> {
            let epoch = (bucket + mix(lk ^ p) % LEVEL_LIFE) / LEVEL_LIFE;
            let r = mix(lk ^ mix(p ^ mix(epoch)));
            if !best && r.is_multiple_of(3) {
                return None;
            }
            let qty = (c.mean_qty as f64 * (0.1 + 8.0 * unit(r).powi(2))).round().max(1.0) as u64;
            Some((p * c.tick, qty))
        };
        let bids = (0..=WINDOW_TICKS.min(bid - 1)).filter_map(|i| level(bid - i, i == 0)).take(levels).collect();
        let asks = (0..=WINDOW_TICKS).filter_map(|i| level(ask + i, i == 0)).take(levels).collect();
        Depth { update_id, bids, asks }
    }
}

/// The levels of one side that changed from `old` to `new` (both sorted the same way, best
/// first): new or changed quantities, and levels gone as quantity 0, in ascending price order.
#[must_use]
pub fn diff_side(old: &[(u64, u64)], new: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut old: Vec<(u64, u64)> = old.to_vec();
    let mut new: Vec<(u64, u64)> = new.to_vec();
    old.sort_unstable();
    new.sort_unstable();
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(&(po, qo)), Some(&(pn, qn))) if po == pn => {
                if qo != qn {
                    out.push((pn, qn));
                }
                i += 1;
                j += 1;
            }
            (Some(&(po, _)), Some(&(pn, _))) if po < pn => {
                out.push((po, 0));
                i += 1;
            }
            (Some(&(po, _)), None) => {
                out.push((po, 0));
                i += 1;
            }
            (_, Some(&l)) => {
                out.push(l);
                j += 1;
            }
            (None, None) => unreachable!("loop condition"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lists_changed_new_and_removed_levels_by_price() {
        let old = [(103, 1), (102, 5), (100, 2)];
        let new = [(104, 3), (102, 5), (100, 7)];
        assert_eq!(diff_side(&old, &new), [(100, 7), (103, 0), (104, 3)]);
        assert_eq!(diff_side(&new, &new), []);
        assert_eq!(diff_side(&[], &[(1, 1)]), [(1, 1)]);
        assert_eq!(diff_side(&[(1, 1)], &[]), [(1, 0)]);
    }
}
