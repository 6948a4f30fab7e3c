//! Property tests: `parse_kline` preserves every decimal exactly at the instrument precision,
//! stamps the bar at open time + interval, and keeps order and count.

use data::{KlineRow, bar_type, parse_kline, parse_klines_json};
use nautilus_model::{enums::PriceType, identifiers::InstrumentId};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};

const INTERVALS: [(&str, u64); 6] =
    [("1s", 1_000), ("1m", 60_000), ("5m", 300_000), ("1h", 3_600_000), ("1d", 86_400_000), ("1w", 604_800_000)];

/// A decimal with at most `max_dp` decimals, rendered like Binance (padded to 8 decimals when
/// `pad`), plus its exact value.
fn decimal(max_dp: u8, pad: bool) -> impl Strategy<Value = (String, Decimal)> {
    (0u64..=1_000_000_000_000u64, 0..=u32::from(max_dp)).prop_map(move |(m, dp)| {
        let d = Decimal::from_i128_with_scale(i128::from(m), dp);
        let s = if pad && dp <= 8 { format!("{d:.8}") } else { d.to_string() };
        (s, d)
    })
}

#[derive(Debug, Clone)]
struct Case {
    pp: u8,
    sp: u8,
    interval: (&'static str, u64),
    open_ms: u64,
    prices: [(String, Decimal); 4], // open, high, low, close
    volume: (String, Decimal),
}

fn case() -> impl Strategy<Value = Case> {
    (0u8..=8, 0u8..=8, 0..INTERVALS.len(), 1_000_000_000_000u64..4_000_000_000_000u64, any::<bool>()).prop_flat_map(
        |(pp, sp, i, open_ms, pad)| {
            (prop::collection::vec(decimal(pp, pad), 4), decimal(sp, pad), 0usize..4, 0usize..4).prop_map(
                move |(mut px, volume, oi, ci)| {
                    px.sort_by_key(|(_, d)| *d);
                    let (low, high) = (px[0].clone(), px[3].clone());
                    let prices = [px[oi].clone(), high, low, px[ci].clone()];
                    Case { pp, sp, interval: INTERVALS[i], open_ms, prices, volume }
                },
            )
        },
    )
}

fn row(c: &Case, open_ms: u64) -> Value {
    let p = &c.prices;
    json!([open_ms, p[0].0, p[1].0, p[2].0, p[3].0, c.volume.0, open_ms + c.interval.1 - 1, "0", 1, "0", "0", "0"])
}

proptest! {
    #[test]
    fn values_and_timestamps_are_exact(c in case()) {
        let bt = bar_type(InstrumentId::from("BTCUSDT.BINANCE"), c.interval.0, PriceType::Last).unwrap();
        let v = row(&c, c.open_ms);
        let bar = parse_kline(&KlineRow::from_json(&v).unwrap(), bt, c.pp, c.sp).unwrap();
        for (got, (_, want)) in [bar.open, bar.high, bar.low, bar.close].iter().zip(&c.prices) {
            prop_assert_eq!(got.as_decimal(), *want);
            prop_assert_eq!(got.precision, c.pp);
            prop_assert_eq!(got.to_string(), format!("{:.*}", usize::from(c.pp), want));
        }
        prop_assert_eq!(bar.volume.as_decimal(), c.volume.1);
        prop_assert_eq!(bar.volume.precision, c.sp);
        prop_assert_eq!(bar.volume.to_string(), format!("{:.*}", usize::from(c.sp), c.volume.1));
        let want_ts = (c.open_ms + c.interval.1) * 1_000_000;
        prop_assert_eq!(bar.ts_event.as_u64(), want_ts);
        prop_assert_eq!(bar.ts_init.as_u64(), want_ts);
    }

    #[test]
    fn order_and_count_are_preserved(c in case(), n in 0usize..40) {
        let bt = bar_type(InstrumentId::from("BTCUSDT.BINANCE"), c.interval.0, PriceType::Last).unwrap();
        let rows: Vec<Value> = (0..n as u64).map(|i| row(&c, c.open_ms + i * c.interval.1)).collect();
        let bars = parse_klines_json(&Value::Array(rows), bt, c.pp, c.sp).unwrap();
        prop_assert_eq!(bars.len(), n);
        for (i, b) in bars.iter().enumerate() {
            prop_assert_eq!(b.ts_init.as_u64(), (c.open_ms + (i as u64 + 1) * c.interval.1) * 1_000_000);
            prop_assert_eq!(b.close.as_decimal(), c.prices[3].1);
        }
    }
}
