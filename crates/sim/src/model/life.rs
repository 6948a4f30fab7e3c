//! Listings and delistings: when a symbol exists, what exchangeInfo says about it, and the
//! price its perpetual settles at. Nothing exists before the listing (no trades, klines,
//! funding; the symbol is unknown to REST), and nothing trades from the delisting on, while the
//! symbol stays in exchangeInfo with its new status and its history stays served.

/// Binance's `deliveryDate` of a perpetual nobody plans to delist (2100-12-25).
pub const NO_DELIVERY_MS: u64 = 4_133_404_800_000;
/// How long before a delisting exchangeInfo shows it in `deliveryDate` (Binance announces
/// delistings about a week ahead).
pub const ANNOUNCED_MS: u64 = 7 * 86_400_000;
/// How long a delisted perpetual shows `SETTLING` before `CLOSE`.
pub const SETTLING_MS: u64 = 86_400_000;
/// The settlement price is the mean index price over this window before the delisting.
pub const SETTLEMENT_WINDOW_MS: u64 = 30 * 60_000;

/// `[listed_ms, delisted_ms)`: the time a symbol trades, minute-aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Life {
    pub listed_ms: u64,
    pub delisted_ms: Option<u64>,
}

impl Life {
    /// First instant without trading (`u64::MAX` when never delisted).
    #[must_use]
    pub fn end(&self) -> u64 {
        self.delisted_ms.unwrap_or(u64::MAX)
    }

    /// Whether the symbol is in exchangeInfo (and known to REST) at `now`.
    #[must_use]
    pub fn is_listed(&self, now: u64) -> bool {
        now >= self.listed_ms
    }

    /// Whether it trades at `t`.
    #[must_use]
    pub fn trades_at(&self, t: u64) -> bool {
        t >= self.listed_ms && t < self.end()
    }

    /// `[from, to)` cut to the life; empty (`from >= to`) outside it.
    #[must_use]
    pub fn clip(&self, from: u64, to: u64) -> (u64, u64) {
        (from.max(self.listed_ms), to.min(self.end()))
    }

    /// Spot `status` at `now`: `TRADING`, then `BREAK` once delisted.
    #[must_use]
    pub fn spot_status(&self, now: u64) -> &'static str {
        if now < self.end() { "TRADING" } else { "BREAK" }
    }

    /// USD-M `status` at `now`: `TRADING`, `SETTLING` for a day after the delisting, then
    /// `CLOSE`.
    #[must_use]
    pub fn usdm_status(&self, now: u64) -> &'static str {
        match self.delisted_ms {
            Some(d) if now >= d + SETTLING_MS => "CLOSE",
            Some(d) if now >= d => "SETTLING",
            _ => "TRADING",
        }
    }

    /// USD-M `deliveryDate` at `now`: the delisting once announced, else [`NO_DELIVERY_MS`].
    #[must_use]
    pub fn delivery_date(&self, now: u64) -> u64 {
        match self.delisted_ms {
            Some(d) if now.saturating_add(ANNOUNCED_MS) >= d => d,
            _ => NO_DELIVERY_MS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: u64 = 1_717_200_000_000;

    #[test]
    fn statuses_and_dates_move_with_the_clock() {
        let life = Life { listed_ms: D - 50 * 86_400_000, delisted_ms: Some(D) };
        assert_eq!(life.delivery_date(D - ANNOUNCED_MS - 1), NO_DELIVERY_MS);
        assert_eq!(life.delivery_date(D - ANNOUNCED_MS), D);
        let at = |now| (life.spot_status(now), life.usdm_status(now));
        assert_eq!(at(D - 1), ("TRADING", "TRADING"));
        assert_eq!(at(D), ("BREAK", "SETTLING"));
        assert_eq!(at(D + SETTLING_MS), ("BREAK", "CLOSE"));
        assert_eq!(life.clip(0, u64::MAX), (D - 50 * 86_400_000, D));
        assert!(life.trades_at(D - 1) && !life.trades_at(D));
        let forever = Life { listed_ms: 0, delisted_ms: None };
        assert_eq!((forever.usdm_status(u64::MAX - 1), forever.delivery_date(D)), ("TRADING", NO_DELIVERY_MS));
    }
}
