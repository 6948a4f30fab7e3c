//! The run folder: a [`RunResult`] written as files. Each table is described once ([`Table`]) and written twice:
//! CSV with exact decimal strings (diffable, byte-stable) and Parquet for pandas / polars /
//! DuckDB (timestamps as `timestamp[ns, UTC]`, money and quantities as `decimal128(38, 18)`).
//!
//! Files: `result.json`, `run.toml`, `version.json`, and `orders`, `fills`, `positions`,
//! `equity`, `funding`, `liquidations`, `prices`, `wallets`, `balances`, `attribution`,
//! `instrument_pnl` as `.csv` + `.parquet`.

use std::{path::Path, sync::Arc};

use arrow::{
    array::{Array, ArrayRef, Decimal128Array, StringArray, TimestampNanosecondArray, UInt64Array},
    datatypes::{DataType, Field, Schema},
    record_batch::RecordBatch,
};
use parquet::{arrow::ArrowWriter, basic::Compression, file::properties::WriterProperties};
use rust_decimal::Decimal;

use crate::{
    attribution::AttributionRow,
    error::{Error, Result},
    result::RunResult,
    spec::RunSpec,
};

/// Scale of every decimal Parquet column (values with more decimals are rounded half-even).
const SCALE: u32 = 18;

/// One column of a [`Table`].
#[derive(Debug)]
pub enum Column {
    /// Nanoseconds since the UNIX epoch.
    Ts(Vec<u64>),
    Str(Vec<String>),
    Dec(Vec<Decimal>),
    /// Counts.
    Int(Vec<u64>),
}

impl Column {
    fn len(&self) -> usize {
        match self {
            Self::Ts(v) => v.len(),
            Self::Str(v) => v.len(),
            Self::Dec(v) => v.len(),
            Self::Int(v) => v.len(),
        }
    }

    fn cell(&self, row: usize) -> String {
        match self {
            Self::Ts(v) => v[row].to_string(),
            Self::Str(v) => v[row].clone(),
            Self::Dec(v) => v[row].to_string(),
            Self::Int(v) => v[row].to_string(),
        }
    }

    fn arrow(&self) -> std::result::Result<(DataType, ArrayRef), String> {
        Ok(match self {
            Self::Ts(v) => {
                let a = TimestampNanosecondArray::from(
                    v.iter()
                        .map(|&t| i64::try_from(t).map_err(|_| format!("timestamp {t} beyond 2262")))
                        .collect::<std::result::Result<Vec<_>, _>>()?,
                )
                .with_timezone("UTC");
                (a.data_type().clone(), Arc::new(a))
            }
            Self::Str(v) => (DataType::Utf8, Arc::new(StringArray::from(v.clone()))),
            Self::Int(v) => (DataType::UInt64, Arc::new(UInt64Array::from(v.clone()))),
            Self::Dec(v) => {
                let raw = v
                    .iter()
                    .map(|d| {
                        let mut d = d.round_dp(SCALE);
                        d.rescale(SCALE);
                        d.mantissa()
                    })
                    .collect::<Vec<i128>>();
                let a =
                    Decimal128Array::from(raw).with_precision_and_scale(38, SCALE as i8).map_err(|e| e.to_string())?;
                (a.data_type().clone(), Arc::new(a))
            }
        })
    }
}

/// A named table of equal-length columns.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: Vec<(&'static str, Column)>,
}

impl Table {
    fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.1.len())
    }

    /// CSV text (header + one line per row; cells never contain commas).
    #[must_use]
    pub fn csv(&self) -> String {
        let mut s = self.columns.iter().map(|c| c.0).collect::<Vec<_>>().join(",");
        s.push('\n');
        for r in 0..self.rows() {
            let cells: Vec<String> = self.columns.iter().map(|c| c.1.cell(r)).collect();
            s.push_str(&cells.join(","));
            s.push('\n');
        }
        s
    }

    /// Parquet bytes (zstd, one row group; no creation timestamp, so byte-stable).
    ///
    /// # Errors
    /// [`Error::Encode`] for Arrow / Parquet encoding errors, naming the table.
    pub fn parquet(&self) -> Result<Vec<u8>> {
        let what = || format!("{}.parquet", self.name);
        let mut fields = Vec::new();
        let mut arrays = Vec::new();
        for (name, col) in &self.columns {
            let (ty, a) = col.arrow().map_err(|e| Error::encode(what(), e))?;
            fields.push(Field::new(*name, ty, false));
            arrays.push(a);
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| Error::encode(what(), e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(parquet::basic::ZstdLevel::default()))
            .set_created_by("alphalab".into())
            .build();
        let mut out = Vec::new();
        let encode = |e: parquet::errors::ParquetError| Error::encode(what(), e);
        let mut w = ArrowWriter::try_new(&mut out, schema, Some(props)).map_err(encode)?;
        w.write(&batch).map_err(encode)?;
        w.close().map_err(encode)?;
        Ok(out)
    }
}

fn strs<T>(v: &[T], f: impl Fn(&T) -> String) -> Column {
    Column::Str(v.iter().map(f).collect())
}

fn decs<T>(v: &[T], f: impl Fn(&T) -> Decimal) -> Column {
    Column::Dec(v.iter().map(f).collect())
}

fn tss<T>(v: &[T], f: impl Fn(&T) -> u64) -> Column {
    Column::Ts(v.iter().map(f).collect())
}

fn ints<T>(v: &[T], f: impl Fn(&T) -> u64) -> Column {
    Column::Int(v.iter().map(f).collect())
}

/// A per-instrument attribution table ([`AttributionRow`]s).
fn attribution_table(name: &'static str, a: &[AttributionRow]) -> Table {
    Table {
        name,
        columns: vec![
            ("ts", tss(a, |x| x.ts)),
            ("instrument_id", strs(a, |x| x.instrument_id.clone())),
            ("position", decs(a, |x| x.position)),
            ("last_price", decs(a, |x| x.last_price)),
            ("realized_pnl", decs(a, |x| x.realized_pnl)),
            ("unrealized_pnl", decs(a, |x| x.unrealized_pnl)),
            ("fees", decs(a, |x| x.fees)),
            ("funding", decs(a, |x| x.funding)),
            ("liquidation_fees", decs(a, |x| x.liquidation_fees)),
            ("insurance", decs(a, |x| x.insurance)),
            ("net_pnl", decs(a, |x| x.net_pnl)),
            ("traded_notional", decs(a, |x| x.traded_notional)),
            ("fills", ints(a, |x| x.fills)),
        ],
    }
}

/// Every table of a result.
#[must_use]
pub fn tables(r: &RunResult) -> Vec<Table> {
    let o = &r.orders;
    let f = &r.fills;
    let p = &r.position_history;
    let e = &r.equity;
    let fu = &r.funding;
    let px = &r.prices;
    let b = &r.account_balances;
    let l = &r.liquidations;
    let w: Vec<(&str, &String, Decimal)> =
        r.wallets.iter().flat_map(|(k, m)| m.iter().map(move |(c, a)| (k.name(), c, *a))).collect();
    vec![
        Table {
            name: "orders",
            columns: vec![
                ("ts", tss(o, |x| x.ts)),
                ("instrument_id", strs(o, |x| x.instrument_id.clone())),
                ("client_order_id", strs(o, |x| x.client_order_id.clone())),
                ("action", strs(o, |x| x.action.clone())),
                ("side", strs(o, |x| x.side.clone())),
                ("order_type", strs(o, |x| x.order_type.clone())),
                ("qty", decs(o, |x| x.qty)),
                ("limit_price", strs(o, |x| x.limit_price.map(|p| p.to_string()).unwrap_or_default())),
            ],
        },
        Table {
            name: "fills",
            columns: vec![
                ("ts", tss(f, |x| x.ts)),
                ("instrument_id", strs(f, |x| x.instrument_id.clone())),
                ("client_order_id", strs(f, |x| x.client_order_id.clone())),
                ("side", strs(f, |x| x.side.clone())),
                ("qty", decs(f, |x| x.qty)),
                ("price", decs(f, |x| x.price)),
                ("commission", decs(f, |x| x.commission)),
                ("commission_currency", strs(f, |x| x.commission_currency.clone())),
                ("liquidity", strs(f, |x| x.liquidity.clone())),
                ("position_after", decs(f, |x| x.position_after)),
            ],
        },
        Table {
            name: "positions",
            columns: vec![
                ("ts", tss(p, |x| x.0)),
                ("instrument_id", strs(p, |x| x.1.clone())),
                ("position", decs(p, |x| x.2)),
            ],
        },
        Table {
            name: "equity",
            columns: vec![
                ("ts", tss(e, |x| x.ts)),
                ("equity_ex_funding", decs(e, |x| x.equity_ex_funding)),
                ("funding", decs(e, |x| x.funding)),
                ("equity", decs(e, |x| x.equity)),
                ("gross_exposure", decs(e, |x| x.gross_exposure)),
                ("net_exposure", decs(e, |x| x.net_exposure)),
                ("open_positions", ints(e, |x| x.open_positions as u64)),
            ],
        },
        Table {
            name: "funding",
            columns: vec![
                ("ts", tss(fu, |x| x.ts)),
                ("instrument_id", strs(fu, |x| x.instrument_id.clone())),
                ("position", decs(fu, |x| x.position)),
                ("mark_price", decs(fu, |x| x.mark_price)),
                ("rate", decs(fu, |x| x.rate)),
                ("payment", decs(fu, |x| x.payment)),
                ("cumulative", decs(fu, |x| x.cumulative)),
            ],
        },
        Table {
            name: "liquidations",
            columns: vec![
                ("ts", tss(l, |x| x.ts)),
                ("instrument_id", strs(l, |x| x.instrument_id.clone())),
                ("side", strs(l, |x| x.side.clone())),
                ("qty", decs(l, |x| x.qty)),
                ("price", decs(l, |x| x.price)),
                ("mark_price", decs(l, |x| x.mark_price)),
                ("fee", decs(l, |x| x.fee)),
                ("wallet_balance_after", decs(l, |x| x.wallet_balance_after)),
                ("realized_pnl", decs(l, |x| x.realized_pnl)),
                ("insurance", decs(l, |x| x.insurance)),
            ],
        },
        Table {
            name: "prices",
            columns: vec![
                ("ts", tss(px, |x| x.0)),
                ("instrument_id", strs(px, |x| x.1.clone())),
                ("price", decs(px, |x| x.2)),
            ],
        },
        Table {
            name: "wallets",
            columns: vec![
                ("wallet", strs(&w, |x| x.0.to_string())),
                ("currency", strs(&w, |x| x.1.clone())),
                ("balance", decs(&w, |x| x.2)),
            ],
        },
        Table {
            name: "balances",
            columns: vec![
                ("currency", strs(b, |x| x.currency.clone())),
                ("total", decs(b, |x| x.total)),
                ("free", decs(b, |x| x.free)),
                ("locked", decs(b, |x| x.locked)),
            ],
        },
        attribution_table("attribution", &r.attribution),
        attribution_table("instrument_pnl", &r.instrument_pnl),
    ]
}

/// Writes every result file into `dir` (deterministic: same spec and result ⇒ same bytes).
///
/// # Errors
/// I/O and encoding errors, naming the file.
pub fn write_results(dir: &Path, spec: &RunSpec, result: &RunResult) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let put = |name: &str, body: &[u8]| -> Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, body).map_err(Error::io(p))
    };
    put("result.json", pretty_json("result.json", result)?.as_bytes())?;
    for t in tables(result) {
        put(&format!("{}.csv", t.name), t.csv().as_bytes())?;
        put(&format!("{}.parquet", t.name), &t.parquet()?)?;
    }
    put("run.toml", spec.to_toml()?.as_bytes())?;
    let version = serde_json::json!({ "version": result.version });
    put("version.json", pretty_json("version.json", &version)?.as_bytes())?;
    Ok(())
}

/// `v` as pretty JSON with a final newline.
///
/// # Errors
/// [`Error::Encode`] naming `what`.
pub fn pretty_json<T: serde::Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map(|s| s + "\n").map_err(|e| Error::encode(what, e))
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;
    use sha2::Digest;

    use super::*;

    #[test]
    fn csv_and_parquet_hold_the_same_exact_values() {
        let t = Table {
            name: "t",
            columns: vec![
                ("ts", Column::Ts(vec![1, 2])),
                ("id", Column::Str(vec!["A".into(), "B".into()])),
                ("x", Column::Dec(vec![dec!(0.1), dec!(-123456.000000000000000001)])),
            ],
        };
        assert_eq!(t.csv(), "ts,id,x\n1,A,0.1\n2,B,-123456.000000000000000001\n");
        let path = std::env::temp_dir().join(format!("alphalab-results-{}.parquet", std::process::id()));
        std::fs::write(&path, t.parquet().unwrap()).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
        let batch = reader.into_iter().next().unwrap().unwrap();
        let x = batch.column(2).as_any().downcast_ref::<Decimal128Array>().unwrap();
        assert_eq!(x.value_as_string(0), "0.100000000000000000");
        assert_eq!(x.value_as_string(1), "-123456.000000000000000001");
        // Byte-stable across processes and builds (no timestamp in the file): the encoding of
        // this table is pinned. A deliberate change of the writer settings updates this digest.
        let digest = sha2::Sha256::digest(t.parquet().unwrap());
        assert_eq!(hex::encode(digest), "67e8d5f6fe9b805a6d2cae8755ca9ae82a1e27b8164cd6923601f1bccc164a36");
        let _ = std::fs::remove_file(path);
    }
}
