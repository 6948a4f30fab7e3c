//! Validating archive CSV rows: exact decimals, ms or µs timestamps, ordering. Reading, framing
//! (BOM, CRLF, blank lines, header) and timestamp units are [`binance::archive`]'s.

use std::path::Path;

use binance::archive;

use super::{AggTradeRow, KlineRow, ReplayError, TradeRow};

const AGG_COLS: [&str; 8] = [
    "agg_trade_id",
    "price",
    "quantity",
    "first_trade_id",
    "last_trade_id",
    "transact_time",
    "is_buyer_maker",
    "is_best_match",
];
const TRADE_COLS: [&str; 7] = ["trade_id", "price", "qty", "quote_qty", "time", "is_buyer_maker", "is_best_match"];

/// One data row: its 1-based line number and fields.
struct Row<'a> {
    line: usize,
    fields: Vec<&'a str>,
}

/// Data rows of `text` with `cols` columns (or `cols - 1` when the last one is optional); see
/// [`archive::data_lines`] for what is skipped.
fn rows<'a>(path: &Path, text: &'a str, cols: usize, optional_last: bool) -> Result<Vec<Row<'a>>, ReplayError> {
    let mut out = Vec::new();
    for (line, fields) in archive::data_lines(text) {
        if fields.len() != cols && !(optional_last && fields.len() == cols - 1) {
            let want = if optional_last { format!("{} or {cols}", cols - 1) } else { cols.to_string() };
            return Err(ReplayError::columns(path, line, &want, fields.len()));
        }
        out.push(Row { line, fields });
    }
    Ok(out)
}

/// Typed access to one row's columns, with errors naming the file, line and column.
struct Cols<'p, 'a> {
    path: &'p Path,
    row: &'a Row<'a>,
    names: &'static [&'static str],
}

impl Cols<'_, '_> {
    fn err(&self, i: usize, what: &str) -> ReplayError {
        let msg = format!("column {} ({}): {:?} is not {what}", i + 1, self.names[i], self.row.fields[i]);
        ReplayError::line(self.path, self.row.line, msg)
    }

    fn int(&self, i: usize) -> Result<u64, ReplayError> {
        let v = self.row.fields[i];
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.err(i, "an integer"));
        }
        v.parse().map_err(|_| self.err(i, "an integer"))
    }

    /// A timestamp in ms: 16-digit µs values are divided by 1000, values below 13 digits are
    /// taken as ms (synthetic files), other lengths refused ([`archive::ts_to_ms_lenient`]).
    fn time(&self, i: usize) -> Result<u64, ReplayError> {
        archive::ts_to_ms_lenient(self.int(i)?).map_err(|_| self.err(i, "a 13-digit (ms) or 16-digit (µs) timestamp"))
    }

    /// A decimal kept verbatim: `-?digits[.digits]`.
    fn dec(&self, i: usize) -> Result<Box<str>, ReplayError> {
        let v = self.row.fields[i];
        let body = v.strip_prefix('-').unwrap_or(v);
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
            return Err(self.err(i, "a decimal number"));
        }
        Ok(v.into())
    }

    fn boolean(&self, i: usize) -> Result<bool, ReplayError> {
        match self.row.fields[i].to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.err(i, "true or false")),
        }
    }

    fn opt_boolean(&self, i: usize) -> Result<Option<bool>, ReplayError> {
        if i < self.row.fields.len() { self.boolean(i).map(Some) } else { Ok(None) }
    }
}

fn not_after(path: &Path, line: usize, what: &str, v: u64, prev: u64) -> ReplayError {
    ReplayError::line(path, line, format!("{what} {v} is not after the previous row's {prev}"))
}

/// Kline rows, strictly increasing in open time.
pub(super) fn klines(path: &Path, text: &str) -> Result<Vec<KlineRow>, ReplayError> {
    let mut out: Vec<KlineRow> = Vec::new();
    for row in rows(path, text, 12, false)? {
        let c = Cols { path, row: &row, names: &binance::archive::KLINE_COLUMNS };
        let k = KlineRow {
            open_time: c.time(0)?,
            open: c.dec(1)?,
            high: c.dec(2)?,
            low: c.dec(3)?,
            close: c.dec(4)?,
            volume: c.dec(5)?,
            close_time: c.time(6)?,
            quote_volume: c.dec(7)?,
            count: c.int(8)?,
            taker_buy_volume: c.dec(9)?,
            taker_buy_quote_volume: c.dec(10)?,
            ignore: c.dec(11)?,
        };
        if k.close_time < k.open_time {
            let msg = format!("close_time {} is before open_time {}", k.close_time, k.open_time);
            return Err(ReplayError::line(path, row.line, msg));
        }
        if let Some(p) = out.last()
            && k.open_time <= p.open_time
        {
            return Err(not_after(path, row.line, "open_time", k.open_time, p.open_time));
        }
        out.push(k);
    }
    Ok(out)
}

/// Aggregate trades, strictly increasing in id, non-decreasing in time.
pub(super) fn agg_trades(path: &Path, text: &str) -> Result<Vec<AggTradeRow>, ReplayError> {
    let mut out: Vec<AggTradeRow> = Vec::new();
    for row in rows(path, text, 8, true)? {
        let c = Cols { path, row: &row, names: &AGG_COLS };
        let a = AggTradeRow {
            id: c.int(0)?,
            price: c.dec(1)?,
            qty: c.dec(2)?,
            first_id: c.int(3)?,
            last_id: c.int(4)?,
            time: c.time(5)?,
            is_buyer_maker: c.boolean(6)?,
            is_best_match: c.opt_boolean(7)?,
        };
        if let Some(p) = out.last() {
            if a.id <= p.id {
                return Err(not_after(path, row.line, "agg_trade_id", a.id, p.id));
            }
            if a.time < p.time {
                let msg = format!("transact_time {} is before the previous row's {}", a.time, p.time);
                return Err(ReplayError::line(path, row.line, msg));
            }
        }
        out.push(a);
    }
    Ok(out)
}

/// Trades, strictly increasing in id, non-decreasing in time.
pub(super) fn trades(path: &Path, text: &str) -> Result<Vec<TradeRow>, ReplayError> {
    let mut out: Vec<TradeRow> = Vec::new();
    for row in rows(path, text, 7, true)? {
        let c = Cols { path, row: &row, names: &TRADE_COLS };
        let t = TradeRow {
            id: c.int(0)?,
            price: c.dec(1)?,
            qty: c.dec(2)?,
            quote_qty: c.dec(3)?,
            time: c.time(4)?,
            is_buyer_maker: c.boolean(5)?,
            is_best_match: c.opt_boolean(6)?,
        };
        if let Some(p) = out.last() {
            if t.id <= p.id {
                return Err(not_after(path, row.line, "trade_id", t.id, p.id));
            }
            if t.time < p.time {
                let msg = format!("time {} is before the previous row's {}", t.time, p.time);
                return Err(ReplayError::line(path, row.line, msg));
            }
        }
        out.push(t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_checked_and_kept_verbatim() {
        let p = Path::new("x.csv");
        let ok = "1,0.00002853,1,1.,1,-2,2,.5,3,0,0,0\n";
        let k = klines(p, ok).unwrap();
        assert_eq!(&*k[0].open, "0.00002853");
        assert_eq!(&*k[0].quote_volume, ".5");
        for bad in ["", "-", ".", "1e5", "1.2.3", "abc", "0x1"] {
            let text = format!("1,{bad},1,1,1,1,2,1,3,0,0,0\n");
            let want = format!("x.csv:1: column 2 (open): {bad:?} is not a decimal number");
            assert_eq!(klines(p, &text).unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn header_blank_lines_and_crlf() {
        let p = Path::new("x.csv");
        let text = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\r\n\r\n1,2.5,3,10,11,1700000000000,True\r\n";
        let a = agg_trades(p, text).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].id, a[0].is_buyer_maker, a[0].is_best_match), (1, true, None));
    }

    #[test]
    fn zipped_csv_is_read() {
        use std::io::Write;
        let p = std::env::temp_dir().join(format!("alphalab-replay-zip-{}.zip", std::process::id()));
        let mut w = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file("ADABTC-1m-2021-11-27.csv", opts).unwrap();
        w.write_all(
            b"1637971200000,0.00002853,0.00002854,0.00002851,0.00002854,36304.2,1637971259999,1.0,79,1.0,0.5,0\n",
        )
        .unwrap();
        w.finish().unwrap();
        let text = archive::read_text(&p);
        let _ = std::fs::remove_file(&p);
        let k = klines(&p, &text.unwrap()).unwrap();
        assert_eq!((k[0].open_time, &*k[0].open), (1_637_971_200_000, "0.00002853"));
    }

    #[test]
    fn micros_become_millis() {
        let p = Path::new("x.csv");
        let t = trades(p, "5,1,1,1,1735689600123456,false,true\n").unwrap();
        assert_eq!(t[0].time, 1_735_689_600_123);
    }
}
