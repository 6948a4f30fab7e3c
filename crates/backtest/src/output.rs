//! The run folder: a [`RunResult`] written as files. Each table is described once ([`Table`]) and written twice:
//! CSV with exact decimal strings (diffable, byte-stable) and Parquet for pandas / polars /
//! DuckDB (timestamps as `timestamp[ns, UTC]`, money and quantities as `decimal128(38, 18)`).
//!
//! Files: `result.json`, `run.toml`, `version.json`, and `orders`, `fills`, `positions`,
//! `equity`, `funding`, `liquidations`, `prices`, `wallets`, `balances`, `attribution`,
//! `instrument_pnl` as `.csv` + `.parquet`.

use std::{io::Write, ops::Range, path::Path, sync::Arc};

use arrow::{
    array::{Array, ArrayRef, Decimal128Array, StringArray, TimestampNanosecondArray, UInt64Array},
    datatypes::{DataType, Field, Schema},
    record_batch::RecordBatch,
};
use data::raw::write_atomic_with;
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

/// Rows built and written at a time: a year's 800k fills are never copied whole into cells.
const BATCH: usize = 1 << 16;

/// The cells of one column for a batch of rows.
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
    fn write_cell(&self, row: usize, w: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Self::Ts(v) | Self::Int(v) => write!(w, "{}", v[row]),
            Self::Str(v) => w.write_all(v[row].as_bytes()),
            Self::Dec(v) => write!(w, "{}", v[row]),
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
            Self::Str(v) => (DataType::Utf8, Arc::new(StringArray::from_iter_values(v))),
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

/// How a column reads one row of type `T`.
#[allow(missing_debug_implementations)]
pub enum Col<T> {
    Ts(fn(&T) -> u64),
    Str(fn(&T) -> String),
    Dec(fn(&T) -> Decimal),
    Int(fn(&T) -> u64),
}

impl<T> Clone for Col<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Col<T> {}

impl<T> Col<T> {
    fn cells(self, rows: &[T]) -> Column {
        match self {
            Self::Ts(f) => Column::Ts(rows.iter().map(f).collect()),
            Self::Str(f) => Column::Str(rows.iter().map(f).collect()),
            Self::Dec(f) => Column::Dec(rows.iter().map(f).collect()),
            Self::Int(f) => Column::Int(rows.iter().map(f).collect()),
        }
    }
}

/// The cells of a column for a range of rows, built on demand.
type Cells<'a> = Box<dyn Fn(Range<usize>) -> Column + 'a>;

/// A named table of equal-length columns over borrowed rows, written batch by batch.
#[allow(missing_debug_implementations)]
pub struct Table<'a> {
    pub name: &'static str,
    rows: usize,
    columns: Vec<(&'static str, Cells<'a>)>,
}

impl<'a> Table<'a> {
    /// The table of `rows`, one column per `(name, reader)`.
    #[must_use]
    pub fn of<T>(name: &'static str, rows: &'a [T], columns: &[(&'static str, Col<T>)]) -> Self {
        let columns = columns
            .iter()
            .map(|&(n, c)| (n, Box::new(move |r: Range<usize>| c.cells(&rows[r])) as Cells<'a>))
            .collect();
        Self { name, rows: rows.len(), columns }
    }

    /// The cells of every column for the rows of `r`.
    fn batch(&self, r: Range<usize>) -> Vec<Column> {
        self.columns.iter().map(|(_, c)| c(r.clone())).collect()
    }

    fn batches(&self) -> impl Iterator<Item = Range<usize>> {
        (0..self.rows.div_ceil(BATCH).max(1)).map(|i| i * BATCH..((i + 1) * BATCH).min(self.rows))
    }

    /// Writes the CSV text: a header and one line per row (cells never contain commas).
    ///
    /// # Errors
    /// The writer's I/O errors.
    pub fn write_csv(&self, w: &mut dyn Write) -> std::io::Result<()> {
        writeln!(w, "{}", self.columns.iter().map(|c| c.0).collect::<Vec<_>>().join(","))?;
        for r in self.batches() {
            let cols = self.batch(r.clone());
            for row in 0..r.len() {
                for (i, c) in cols.iter().enumerate() {
                    if i > 0 {
                        w.write_all(b",")?;
                    }
                    c.write_cell(row, w)?;
                }
                w.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    /// Writes the Parquet file (zstd, no creation timestamp, so byte-stable), batch by batch.
    ///
    /// # Errors
    /// [`Error::Encode`] for Arrow / Parquet encoding and I/O errors, naming the table.
    pub fn write_parquet(&self, w: &mut (dyn Write + Send)) -> Result<()> {
        let what = || format!("{}.parquet", self.name);
        let encode = |e: parquet::errors::ParquetError| Error::encode(what(), e);
        let record_batch = |r: Range<usize>| -> Result<RecordBatch> {
            let mut fields = Vec::new();
            let mut arrays = Vec::new();
            for ((name, _), col) in self.columns.iter().zip(self.batch(r)) {
                let (ty, a) = col.arrow().map_err(|e| Error::encode(what(), e))?;
                fields.push(Field::new(*name, ty, false));
                arrays.push(a);
            }
            RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| Error::encode(what(), e))
        };
        let mut batches = self.batches();
        // An empty table still has one (empty) batch: it gives the file its schema.
        let first = record_batch(batches.next().expect("at least one batch"))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(parquet::basic::ZstdLevel::default()))
            .set_created_by("alphalab".into())
            .build();
        let mut writer = ArrowWriter::try_new(w, first.schema(), Some(props)).map_err(encode)?;
        writer.write(&first).map_err(encode)?;
        for r in batches {
            writer.write(&record_batch(r)?).map_err(encode)?;
        }
        writer.close().map_err(encode)?;
        Ok(())
    }

    /// CSV text in memory (small tables and tests).
    #[must_use]
    pub fn csv(&self) -> String {
        let mut out = Vec::new();
        self.write_csv(&mut out).expect("writing to memory");
        String::from_utf8(out).expect("CSV cells are UTF-8")
    }

    /// Parquet bytes in memory (small tables and tests).
    ///
    /// # Errors
    /// As [`Table::write_parquet`].
    pub fn parquet(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_parquet(&mut out)?;
        Ok(out)
    }
}

/// A per-instrument attribution table ([`AttributionRow`]s).
fn attribution_table<'a>(name: &'static str, a: &'a [AttributionRow]) -> Table<'a> {
    Table::of(
        name,
        a,
        &[
            ("ts", Col::Ts(|x| x.ts)),
            ("instrument_id", Col::Str(|x| x.instrument_id.to_string())),
            ("position", Col::Dec(|x| x.position)),
            ("last_price", Col::Dec(|x| x.last_price)),
            ("realized_pnl", Col::Dec(|x| x.realized_pnl)),
            ("unrealized_pnl", Col::Dec(|x| x.unrealized_pnl)),
            ("fees", Col::Dec(|x| x.fees)),
            ("funding", Col::Dec(|x| x.funding)),
            ("liquidation_fees", Col::Dec(|x| x.liquidation_fees)),
            ("insurance", Col::Dec(|x| x.insurance)),
            ("net_pnl", Col::Dec(|x| x.net_pnl)),
            ("traded_notional", Col::Dec(|x| x.traded_notional)),
            ("fills", Col::Int(|x| x.fills)),
        ],
    )
}

/// Calls `each` with every table of a result, in file order.
///
/// # Errors
/// The first error of `each`.
pub fn for_each_table(r: &RunResult, mut each: impl FnMut(&Table<'_>) -> Result<()>) -> Result<()> {
    let wallets: Vec<(&str, &String, Decimal)> =
        r.wallets.iter().flat_map(|(k, m)| m.iter().map(move |(c, a)| (k.name(), c, *a))).collect();
    let tables = [
        Table::of(
            "orders",
            &r.orders,
            &[
                ("ts", Col::Ts(|x| x.ts)),
                ("instrument_id", Col::Str(|x| x.instrument_id.to_string())),
                ("client_order_id", Col::Str(|x| x.client_order_id.to_string())),
                ("action", Col::Str(|x| x.action.to_string())),
                ("side", Col::Str(|x| x.side.to_string())),
                ("order_type", Col::Str(|x| x.order_type.to_string())),
                ("qty", Col::Dec(|x| x.qty)),
                ("limit_price", Col::Str(|x| x.limit_price.map(|p| p.to_string()).unwrap_or_default())),
            ],
        ),
        Table::of(
            "fills",
            &r.fills,
            &[
                ("ts", Col::Ts(|x| x.ts)),
                ("instrument_id", Col::Str(|x| x.instrument_id.to_string())),
                ("client_order_id", Col::Str(|x| x.client_order_id.to_string())),
                ("side", Col::Str(|x| x.side.to_string())),
                ("qty", Col::Dec(|x| x.qty)),
                ("price", Col::Dec(|x| x.price)),
                ("commission", Col::Dec(|x| x.commission)),
                ("commission_currency", Col::Str(|x| x.commission_currency.to_string())),
                ("liquidity", Col::Str(|x| x.liquidity.to_string())),
                ("position_after", Col::Dec(|x| x.position_after)),
            ],
        ),
        Table::of(
            "positions",
            &r.position_history,
            &[
                ("ts", Col::Ts(|x| x.0)),
                ("instrument_id", Col::Str(|x| x.1.to_string())),
                ("position", Col::Dec(|x| x.2)),
            ],
        ),
        Table::of(
            "equity",
            &r.equity,
            &[
                ("ts", Col::Ts(|x| x.ts)),
                ("equity_ex_funding", Col::Dec(|x| x.equity_ex_funding)),
                ("funding", Col::Dec(|x| x.funding)),
                ("equity", Col::Dec(|x| x.equity)),
                ("gross_exposure", Col::Dec(|x| x.gross_exposure)),
                ("net_exposure", Col::Dec(|x| x.net_exposure)),
                ("open_positions", Col::Int(|x| x.open_positions as u64)),
            ],
        ),
        Table::of(
            "funding",
            &r.funding,
            &[
                ("ts", Col::Ts(|x| x.ts)),
                ("instrument_id", Col::Str(|x| x.instrument_id.to_string())),
                ("position", Col::Dec(|x| x.position)),
                ("mark_price", Col::Dec(|x| x.mark_price)),
                ("rate", Col::Dec(|x| x.rate)),
                ("payment", Col::Dec(|x| x.payment)),
                ("cumulative", Col::Dec(|x| x.cumulative)),
            ],
        ),
        Table::of(
            "liquidations",
            &r.liquidations,
            &[
                ("ts", Col::Ts(|x| x.ts)),
                ("instrument_id", Col::Str(|x| x.instrument_id.to_string())),
                ("side", Col::Str(|x| x.side.to_string())),
                ("qty", Col::Dec(|x| x.qty)),
                ("price", Col::Dec(|x| x.price)),
                ("mark_price", Col::Dec(|x| x.mark_price)),
                ("fee", Col::Dec(|x| x.fee)),
                ("wallet_balance_after", Col::Dec(|x| x.wallet_balance_after)),
                ("realized_pnl", Col::Dec(|x| x.realized_pnl)),
                ("insurance", Col::Dec(|x| x.insurance)),
            ],
        ),
        Table::of(
            "prices",
            &r.prices,
            &[("ts", Col::Ts(|x| x.0)), ("instrument_id", Col::Str(|x| x.1.to_string())), ("price", Col::Dec(|x| x.2))],
        ),
        Table::of(
            "wallets",
            &wallets,
            &[
                ("wallet", Col::Str(|x| x.0.to_string())),
                ("currency", Col::Str(|x| x.1.clone())),
                ("balance", Col::Dec(|x| x.2)),
            ],
        ),
        Table::of(
            "balances",
            &r.account_balances,
            &[
                ("currency", Col::Str(|x| x.currency.clone())),
                ("total", Col::Dec(|x| x.total)),
                ("free", Col::Dec(|x| x.free)),
                ("locked", Col::Dec(|x| x.locked)),
            ],
        ),
        attribution_table("attribution", &r.attribution),
        attribution_table("instrument_pnl", &r.instrument_pnl),
    ];
    tables.iter().try_for_each(&mut each)
}

/// Writes every result file into `dir` (deterministic: same spec and result ⇒ same bytes), each
/// streamed to a temporary file and renamed into place.
///
/// # Errors
/// I/O and encoding errors, naming the file.
pub fn write_results(dir: &Path, spec: &RunSpec, result: &RunResult) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let put = |name: &str, body: &mut dyn FnMut(&mut (dyn Write + Send)) -> Result<()>| -> Result<()> {
        let p = dir.join(name);
        let mut failed = None;
        let written = write_atomic_with(&p, |w| {
            body(w).map_err(|e| {
                let msg = e.to_string();
                failed = Some(e);
                std::io::Error::other(msg)
            })
        });
        match (written, failed) {
            (_, Some(e)) => Err(e),
            (Err(e), None) => Err(Error::io(p)(e)),
            (Ok(()), None) => Ok(()),
        }
    };
    put("result.json", &mut |w| {
        serde_json::to_writer_pretty(&mut *w, result).map_err(|e| Error::encode("result.json", e))?;
        w.write_all(b"\n").map_err(Error::io(dir.join("result.json")))
    })?;
    for_each_table(result, |t| {
        let csv = format!("{}.csv", t.name);
        put(&csv, &mut |w| t.write_csv(w).map_err(Error::io(dir.join(&csv))))?;
        put(&format!("{}.parquet", t.name), &mut |w| t.write_parquet(w))
    })?;
    let toml = spec.to_toml()?;
    put("run.toml", &mut |w| w.write_all(toml.as_bytes()).map_err(Error::io(dir.join("run.toml"))))?;
    let version = pretty_json("version.json", &serde_json::json!({ "version": result.version }))?;
    put("version.json", &mut |w| w.write_all(version.as_bytes()).map_err(Error::io(dir.join("version.json"))))
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
        let rows = [(1, "A", dec!(0.1)), (2, "B", dec!(-123456.000000000000000001))];
        let t = Table::of(
            "t",
            &rows,
            &[("ts", Col::Ts(|x| x.0)), ("id", Col::Str(|x| x.1.to_string())), ("x", Col::Dec(|x| x.2))],
        );
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

    fn parquet_column(bytes: Vec<u8>, col: usize) -> Vec<i64> {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap();
        let mut out = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            let ts = batch.column(col).as_any().downcast_ref::<TimestampNanosecondArray>().unwrap();
            out.extend(ts.values().iter().copied());
        }
        out
    }

    #[test]
    fn a_table_longer_than_a_batch_is_written_whole_and_in_order() {
        let rows: Vec<u64> = (0..(2 * BATCH as u64 + 3)).collect();
        let t = Table::of("n", &rows, &[("ts", Col::Ts(|x| *x)), ("s", Col::Str(|x| format!("r{x}")))]);
        let csv = t.csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), rows.len() + 1);
        assert_eq!((lines[0], lines[1]), ("ts,s", "0,r0"));
        assert_eq!(lines[BATCH + 1], format!("{BATCH},r{BATCH}"));
        assert_eq!(*lines.last().unwrap(), format!("{},r{}", 2 * BATCH + 2, 2 * BATCH + 2));
        let ts = parquet_column(t.parquet().unwrap(), 0);
        assert_eq!(ts, rows.iter().map(|&x| x as i64).collect::<Vec<_>>());
    }

    #[test]
    fn an_empty_table_has_its_header_and_schema() {
        let rows: Vec<u64> = Vec::new();
        let t = Table::of("e", &rows, &[("ts", Col::Ts(|x| *x)), ("x", Col::Dec(|_| Decimal::ONE))]);
        assert_eq!(t.csv(), "ts,x\n");
        let bytes = t.parquet().unwrap();
        let builder =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap();
        let names: Vec<&str> = builder.schema().fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["ts", "x"]);
        assert_eq!(builder.metadata().file_metadata().num_rows(), 0);
    }
}
