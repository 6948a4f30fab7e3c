//! Which loaded instruments had an event at the current timestamp: the [`crate::alpha::Slice`]
//! of [`crate::alpha::Schedule::EveryTimestamp`] Alphas.
//!
//! One flag per loaded instrument, found by hash: marking an event costs the same for 2 or 500
//! instruments; the present/missing lists are built once per timestamp into reused buffers.

use std::collections::{BTreeSet, HashMap};

use nautilus_model::identifiers::InstrumentId;

/// The instruments seen at the open timestamp.
#[derive(Debug, Clone)]
pub(super) struct SliceTracker {
    ids: Vec<InstrumentId>,
    index: HashMap<InstrumentId, usize>,
    seen: Vec<bool>,
    /// The timestamp being gathered (its close is scheduled), if any.
    open: Option<u64>,
    pub present: Vec<InstrumentId>,
    pub missing: Vec<InstrumentId>,
}

impl SliceTracker {
    /// A tracker of `ids` (run-file order).
    pub fn new(ids: Vec<InstrumentId>) -> Self {
        let index = ids.iter().enumerate().map(|(k, id)| (*id, k)).collect();
        let seen = vec![false; ids.len()];
        Self { ids, index, seen, open: None, present: Vec::new(), missing: Vec::new() }
    }

    /// Notes an event at `ts` (about `id`, if any); `true` when it opens the timestamp (its
    /// close must be scheduled).
    pub fn mark(&mut self, ts: u64, id: Option<InstrumentId>) -> bool {
        let opened = self.open != Some(ts);
        if opened {
            self.open = Some(ts);
            self.seen.iter_mut().for_each(|s| *s = false);
        }
        if let Some(k) = id.and_then(|id| self.index.get(&id)) {
            self.seen[*k] = true;
        }
        opened
    }

    /// Closes the open timestamp: fills `present` and `missing` (delisted instruments in neither);
    /// returns the timestamp, `None` if none was open.
    pub fn close(&mut self, delisted: &BTreeSet<InstrumentId>) -> Option<u64> {
        let ts = self.open.take()?;
        self.present.clear();
        self.missing.clear();
        for (id, seen) in self.ids.iter().zip(&self.seen) {
            if delisted.contains(id) {
                continue;
            }
            if *seen { self.present.push(*id) } else { self.missing.push(*id) }
        }
        Some(ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_and_missing_per_timestamp() {
        let ids: Vec<InstrumentId> =
            ["A.BINANCE", "B.BINANCE", "C.BINANCE"].iter().map(|s| InstrumentId::from(*s)).collect();
        let mut t = SliceTracker::new(ids.clone());
        assert!(t.mark(5, Some(ids[2])));
        assert!(!t.mark(5, Some(ids[0])));
        assert!(!t.mark(5, None));
        assert_eq!(t.close(&BTreeSet::new()), Some(5));
        assert_eq!((t.present.clone(), t.missing.clone()), (vec![ids[0], ids[2]], vec![ids[1]]));
        assert_eq!(t.close(&BTreeSet::new()), None, "closed once");
        assert!(t.mark(6, Some(ids[1])));
        assert!(!t.mark(6, Some(ids[2])));
        // delisted: in neither list, even with an event
        assert_eq!(t.close(&BTreeSet::from([ids[0], ids[2]])), Some(6));
        assert_eq!((t.present.clone(), t.missing.clone()), (vec![ids[1]], vec![]));
    }
}
