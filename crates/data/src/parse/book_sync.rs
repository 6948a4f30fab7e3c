//! Binance's rules for keeping a local order book in step with the diff-depth stream, as a pure
//! state machine: the recorder runs it live (to know when to fetch a REST snapshot and what
//! hole to record) and the converter runs it again on the recorded lines (to know which diffs
//! the catalog's book takes), so both see the same synchronisations and the same gaps.
//!
//! Spot, ["How to manage a local order book correctly"](https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#how-to-manage-a-local-order-book-correctly):
//! buffer the events; get a snapshot; if its `lastUpdateId` is below the `U` of the first
//! buffered event, get another; discard buffered events with `u <= lastUpdateId`; then, for each
//! event, ignore it if `u <=` the book's update id, restart if `U >` the book's update id + 1,
//! else apply it (so the first one has `U <= lastUpdateId + 1 <= u`, and the next ones
//! `U = previous u + 1`).
//!
//! USD-M, ["How to manage a local order book correctly"](https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/How-to-manage-a-local-order-book-correctly):
//! buffer; get a snapshot; drop events with `u < lastUpdateId`; the first event processed must
//! have `U <= lastUpdateId <= u`; each next event's `pu` must equal the previous event's `u`,
//! otherwise start again from the snapshot.
//!
//! A break (or an interrupted stream) opens a hole in the book that closes at the next
//! synchronisation: a [`SyncGap`] from the last diff applied (or the snapshot) to the snapshot
//! that restored it. The very first synchronisation closes no hole: there was no book before.

use std::collections::VecDeque;

use binance::Market;

use super::depth::DiffIds;

/// Diffs held while waiting for a snapshot; beyond this the oldest go (a snapshot that old
/// would be refused anyway).
pub const MAX_BUFFERED: usize = 10_000;

/// A stretch in which the book was not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGap {
    pub from_ns: u64,
    pub to_ns: u64,
    pub reason: String,
}

/// What to do with one diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffStep<T> {
    /// In sequence: apply it.
    Apply(T),
    /// No book yet: held until a snapshot.
    Buffered,
    /// Already in the book (`u` not past the book's update id): ignore it.
    Stale,
    /// Out of sequence: the book is invalid until the next snapshot (the diff is held).
    Broke { reason: String },
}

/// What a snapshot did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotStep<T> {
    /// Older than the first buffered diff: useless, get another one.
    TooOld,
    /// The book is the snapshot, then `apply` (the buffered diffs that follow it, in order).
    Synced {
        apply: Vec<T>,
        /// Buffered diffs already in the snapshot.
        dropped: usize,
        /// The hole this synchronisation closed.
        gap: Option<SyncGap>,
        /// A buffered diff broke the sequence again: the book is invalid, get another snapshot.
        broke: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Unsynced,
    /// The book is valid at update id `last`; `first`: no diff applied since the snapshot.
    Synced {
        last: u64,
        first: bool,
    },
}

/// One symbol's synchronisation state; `T` is what the caller keeps with each diff.
#[derive(Debug, Clone)]
pub struct BookSync<T> {
    market: Market,
    state: State,
    buffer: VecDeque<(DiffIds, T)>,
    /// Receive time of the last diff applied (or of the snapshot).
    last_ns: u64,
    /// The hole still open: since when, and why.
    open: Option<(u64, String)>,
}

impl<T> BookSync<T> {
    #[must_use]
    pub fn new(market: Market) -> Self {
        Self { market, state: State::Unsynced, buffer: VecDeque::new(), last_ns: 0, open: None }
    }

    /// Whether the book is valid.
    #[must_use]
    pub fn is_synced(&self) -> bool {
        matches!(self.state, State::Synced { .. })
    }

    /// Whether a snapshot is needed now: no valid book and at least one diff buffered (Binance:
    /// note the first event's `U` before getting the snapshot).
    #[must_use]
    pub fn wants_snapshot(&self) -> bool {
        !self.is_synced() && !self.buffer.is_empty()
    }

    /// A diff received at `ns`.
    pub fn on_diff(&mut self, ids: DiffIds, ns: u64, item: T) -> DiffStep<T> {
        match self.state {
            State::Unsynced => {
                self.hold(ids, item);
                DiffStep::Buffered
            }
            State::Synced { last, first } => match self.check(ids, last, first) {
                Check::Apply => {
                    self.state = State::Synced { last: ids.last, first: false };
                    self.last_ns = ns;
                    DiffStep::Apply(item)
                }
                Check::Stale => DiffStep::Stale,
                Check::Break(reason) => {
                    self.break_book(reason.clone());
                    self.hold(ids, item);
                    DiffStep::Broke { reason }
                }
            },
        }
    }

    /// A REST snapshot with `last_update_id`, received at `ns`: the book becomes the snapshot,
    /// then takes the buffered diffs that follow it.
    pub fn on_snapshot(&mut self, last_update_id: u64, ns: u64) -> SnapshotStep<T> {
        if self.buffer.front().is_some_and(|(ids, _)| last_update_id < ids.first) {
            return SnapshotStep::TooOld;
        }
        self.state = State::Synced { last: last_update_id, first: true };
        self.last_ns = ns;
        let (mut apply, mut dropped, mut broke) = (Vec::new(), 0, false);
        let buffered = std::mem::take(&mut self.buffer);
        for (ids, item) in buffered {
            if broke {
                self.hold(ids, item);
                continue;
            }
            match self.on_diff(ids, ns, item) {
                DiffStep::Apply(x) => apply.push(x),
                DiffStep::Stale => dropped += 1,
                DiffStep::Broke { .. } => broke = true,
                DiffStep::Buffered => unreachable!("synced while draining"),
            }
        }
        let gap =
            if broke { None } else { self.open.take().map(|(from_ns, reason)| SyncGap { from_ns, to_ns: ns, reason }) };
        SnapshotStep::Synced { apply, dropped, gap, broke }
    }

    /// The stream was interrupted (a reconnect): the book is invalid from its last diff until
    /// the next snapshot, and diffs held from before are useless.
    pub fn on_interrupt(&mut self, reason: &str) {
        if self.is_synced() {
            self.break_book(format!("stream interrupted: {reason}"));
        }
        self.buffer.clear();
    }

    /// The hole still open at the end (`ns`), if any.
    pub fn finish(&mut self, ns: u64) -> Option<SyncGap> {
        self.open.take().map(|(from_ns, reason)| SyncGap { from_ns, to_ns: ns, reason })
    }

    fn hold(&mut self, ids: DiffIds, item: T) {
        if self.buffer.len() >= MAX_BUFFERED {
            self.buffer.pop_front();
        }
        self.buffer.push_back((ids, item));
    }

    fn break_book(&mut self, reason: String) {
        if self.open.is_none() {
            self.open = Some((self.last_ns, reason));
        }
        self.state = State::Unsynced;
        self.buffer.clear();
    }

    fn check(&self, ids: DiffIds, last: u64, first: bool) -> Check {
        match self.market {
            Market::Spot => {
                if ids.last <= last {
                    Check::Stale
                } else if ids.first > last + 1 {
                    Check::Break(format!(
                        "spot depth: U = {} after the book's update id {last}: {} update ids missing",
                        ids.first,
                        ids.first - last - 1
                    ))
                } else {
                    Check::Apply
                }
            }
            Market::UsdM if first => {
                if ids.last < last {
                    Check::Stale
                } else if ids.first <= last {
                    Check::Apply
                } else {
                    Check::Break(format!(
                        "usdm depth: first event after the snapshot starts at U = {} > lastUpdateId {last}",
                        ids.first
                    ))
                }
            }
            Market::UsdM => match ids.prev {
                Some(pu) if pu == last => Check::Apply,
                Some(pu) => Check::Break(format!("usdm depth: pu = {pu} is not the previous u = {last}")),
                None => Check::Break(format!("usdm depth: event U = {} has no pu", ids.first)),
            },
        }
    }
}

enum Check {
    Apply,
    Stale,
    Break(String),
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn ids(first: u64, last: u64, prev: Option<u64>) -> DiffIds {
        DiffIds { first, last, prev }
    }

    /// Feeds `(U, u, pu)` diffs after a snapshot at `l`, returning each step (items = u).
    fn run(
        market: Market,
        before: &[(u64, u64, Option<u64>)],
        l: u64,
        after: &[(u64, u64, Option<u64>)],
    ) -> (SnapshotStep<u64>, Vec<DiffStep<u64>>) {
        let mut s = BookSync::new(market);
        for &(a, b, p) in before {
            assert_eq!(s.on_diff(ids(a, b, p), 1, b), DiffStep::Buffered);
        }
        let snap = s.on_snapshot(l, 2);
        let steps = after.iter().map(|&(a, b, p)| s.on_diff(ids(a, b, p), 3, b)).collect();
        (snap, steps)
    }

    fn synced(apply: Vec<u64>, dropped: usize) -> SnapshotStep<u64> {
        SnapshotStep::Synced { apply, dropped, gap: None, broke: false }
    }

    #[rstest]
    // Buffered events with u <= lastUpdateId go; the first kept one straddles lastUpdateId + 1.
    #[case::spot_straddling(Market::Spot, &[(10, 15, None), (16, 20, None), (21, 25, None)], 18, synced(vec![20, 25], 1))]
    #[case::spot_starting_right_after(Market::Spot, &[(10, 18, None), (19, 22, None)], 18, synced(vec![22], 1))]
    #[case::spot_snapshot_older_than_the_buffer(Market::Spot, &[(10, 15, None)], 9, SnapshotStep::TooOld)]
    #[case::spot_snapshot_before_any_event(Market::Spot, &[], 9, synced(vec![], 0))]
    // USD-M keeps the event with u == lastUpdateId (drop only u < lastUpdateId).
    #[case::usdm_event_ending_at_the_snapshot(Market::UsdM, &[(10, 15, Some(9)), (16, 20, Some(15))], 15, synced(vec![15, 20], 0))]
    #[case::usdm_straddling(Market::UsdM, &[(10, 15, Some(9)), (16, 20, Some(15)), (21, 25, Some(20))], 18, synced(vec![20, 25], 1))]
    #[case::usdm_snapshot_older_than_the_buffer(Market::UsdM, &[(16, 20, Some(15))], 12, SnapshotStep::TooOld)]
    fn synchronisation(
        #[case] market: Market,
        #[case] before: &[(u64, u64, Option<u64>)],
        #[case] l: u64,
        #[case] want: SnapshotStep<u64>,
    ) {
        assert_eq!(run(market, before, l, &[]).0, want);
    }

    #[rstest]
    #[case::spot_contiguous(Market::Spot, (19, 22, None), DiffStep::Apply(22))]
    #[case::spot_overlap_is_applied(Market::Spot, (17, 22, None), DiffStep::Apply(22))]
    #[case::spot_already_in_the_book(Market::Spot, (15, 18, None), DiffStep::Stale)]
    #[case::spot_skipped_ids(Market::Spot, (21, 25, None), DiffStep::Broke { reason: "spot depth: U = 21 after the book's update id 18: 2 update ids missing".into() })]
    #[case::usdm_first_covering(Market::UsdM, (16, 20, Some(15)), DiffStep::Apply(20))]
    #[case::usdm_first_too_late(Market::UsdM, (19, 22, Some(18)), DiffStep::Broke { reason: "usdm depth: first event after the snapshot starts at U = 19 > lastUpdateId 18".into() })]
    #[case::usdm_first_too_early(Market::UsdM, (10, 15, Some(9)), DiffStep::Stale)]
    fn first_diff_after_a_snapshot_at_18(
        #[case] market: Market,
        #[case] d: (u64, u64, Option<u64>),
        #[case] want: DiffStep<u64>,
    ) {
        assert_eq!(run(market, &[], 18, &[d]).1, [want]);
    }

    #[rstest]
    #[case::usdm_chained(Market::UsdM, (21, 30, Some(20)), DiffStep::Apply(30))]
    #[case::usdm_pu_mismatch(Market::UsdM, (26, 30, Some(25)), DiffStep::Broke { reason: "usdm depth: pu = 25 is not the previous u = 20".into() })]
    #[case::usdm_no_pu(Market::UsdM, (21, 30, None), DiffStep::Broke { reason: "usdm depth: event U = 21 has no pu".into() })]
    #[case::spot_chained(Market::Spot, (21, 30, None), DiffStep::Apply(30))]
    fn later_diffs_after_one_applied_up_to_20(
        #[case] market: Market,
        #[case] d: (u64, u64, Option<u64>),
        #[case] want: DiffStep<u64>,
    ) {
        let (_, steps) = run(market, &[], 18, &[(16, 20, Some(15)), d]);
        assert_eq!(steps[1], want);
    }

    #[test]
    fn a_break_opens_a_hole_that_the_next_snapshot_closes() {
        let mut s = BookSync::new(Market::Spot);
        assert_eq!(s.on_snapshot(10, 100), synced(vec![], 0));
        assert_eq!(s.on_diff(ids(11, 12, None), 200, 12), DiffStep::Apply(12));
        assert!(matches!(s.on_diff(ids(15, 16, None), 300, 16), DiffStep::Broke { .. }));
        assert!(s.wants_snapshot() && !s.is_synced());
        assert_eq!(s.on_diff(ids(17, 18, None), 400, 18), DiffStep::Buffered);
        let SnapshotStep::Synced { apply, dropped, gap, broke } = s.on_snapshot(17, 500) else { panic!() };
        assert_eq!((apply, dropped, broke), (vec![18], 1, false));
        let gap = gap.unwrap();
        assert_eq!((gap.from_ns, gap.to_ns), (200, 500), "from the last diff applied to the resync");
        assert!(gap.reason.starts_with("spot depth: U = 15"), "{}", gap.reason);
        assert_eq!(s.finish(600), None);
    }

    #[test]
    fn an_interruption_opens_a_hole_and_drops_what_was_held() {
        let mut s = BookSync::new(Market::UsdM);
        s.on_snapshot(10, 100);
        assert_eq!(s.on_diff(ids(9, 12, Some(8)), 150, 12), DiffStep::Apply(12));
        s.on_interrupt("read: connection reset");
        assert!(!s.is_synced() && !s.wants_snapshot());
        assert_eq!(s.on_diff(ids(40, 45, Some(39)), 300, 45), DiffStep::Buffered);
        assert!(s.wants_snapshot());
        let gap = s.finish(900).unwrap();
        assert_eq!(
            (gap.from_ns, gap.to_ns, gap.reason.as_str()),
            (150, 900, "stream interrupted: read: connection reset")
        );
    }

    #[test]
    fn the_first_synchronisation_closes_no_hole_and_the_buffer_is_bounded() {
        let mut s = BookSync::new(Market::Spot);
        for i in 0..(MAX_BUFFERED as u64 + 5) {
            s.on_diff(ids(i * 2 + 1, i * 2 + 2, None), i, i);
        }
        // The 5 oldest were dropped: a snapshot from before them is too old.
        assert_eq!(s.on_snapshot(9, 0), SnapshotStep::TooOld);
        let SnapshotStep::Synced { apply, dropped, gap, .. } = s.on_snapshot(12, 0) else { panic!() };
        assert_eq!((apply.len(), dropped, gap), (MAX_BUFFERED - 1, 1, None));
    }

    #[test]
    fn a_break_inside_the_buffer_keeps_the_rest_for_the_next_snapshot() {
        let mut s = BookSync::new(Market::Spot);
        for (a, b) in [(10, 15), (16, 20), (25, 30), (31, 35)] {
            s.on_diff(ids(a, b, None), 1, b);
        }
        let SnapshotStep::Synced { apply, broke, gap, .. } = s.on_snapshot(17, 2) else { panic!() };
        assert_eq!((apply, broke, gap), (vec![20], true, None));
        assert!(s.wants_snapshot());
        let SnapshotStep::Synced { apply, gap, .. } = s.on_snapshot(31, 3) else { panic!() };
        assert_eq!(apply, vec![35]);
        assert_eq!(gap.map(|g| (g.from_ns, g.to_ns)), Some((2, 3)));
    }
}
