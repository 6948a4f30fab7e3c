//! Reading `{retrieved_at, request, payload}` records of a snapshot folder.

use std::path::Path;

use serde_json::Value;

use crate::{Error, Result};

/// One stored payload and where it came from.
#[derive(Debug)]
pub(crate) struct Record {
    /// Relative path inside the snapshot folder, e.g. `futures/klines.json`.
    pub rel: String,
    /// Request URL without its query (or the WebSocket URL and streams).
    pub source: String,
    /// `retrieved_at` as stored (UTC ISO time).
    pub retrieved_at: String,
    /// Query string of the request URL, if any.
    pub query: Option<String>,
    pub payload: Value,
}

impl Record {
    /// `rel` inside `dir`; the error names the payload file.
    pub(crate) fn load(dir: &Path, rel: &str) -> Result<Self> {
        let path = dir.join(rel);
        let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::data(format!("payload {rel}"), format!("not JSON: {e}")))?;
        let Some(payload) = v.get("payload").filter(|p| !p.is_null()) else {
            return Err(Error::data(format!("payload {rel}"), "no `payload` (failed request?)"));
        };
        let req = &v["request"];
        let url = req["url"].as_str().unwrap_or("unknown source");
        let mut source = url.split('?').next().unwrap_or(url).to_string();
        let query = url.split_once('?').map(|(_, q)| q.to_string());
        if let Some(streams) = req["streams"].as_array() {
            let s: Vec<&str> = streams.iter().filter_map(Value::as_str).collect();
            source = format!("{source} streams {}", s.join(","));
        }
        Ok(Self {
            rel: rel.to_string(),
            source,
            retrieved_at: v["retrieved_at"].as_str().unwrap_or("unknown time").to_string(),
            query,
            payload: payload.clone(),
        })
    }

    /// `"<rel>: <source>, retrieved <time>"` for figure captions.
    pub(crate) fn cite(&self) -> String {
        format!("{} <{}> retrieved {}", self.rel, self.source, self.retrieved_at)
    }
}

/// A number stored as a JSON string (Binance decimals) or number.
pub(crate) fn num(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Columns of a 12-column kline payload, sorted by open time.
#[derive(Debug, Default, Clone)]
pub(crate) struct Klines {
    pub t: Vec<i64>,
    pub open: Vec<f64>,
    pub high: Vec<f64>,
    pub low: Vec<f64>,
    pub close: Vec<f64>,
    pub volume: Vec<f64>,
}

impl Klines {
    pub(crate) fn parse(rec: &Record) -> Result<Self> {
        let origin = || format!("payload {}", rec.rel);
        let rows = rec.payload.as_array().ok_or_else(|| Error::data(origin(), "not a kline array"))?;
        let mut parsed: Vec<[f64; 5]> = Vec::with_capacity(rows.len());
        let mut times = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let r = row.as_array().filter(|r| r.len() >= 6);
            let t = r.and_then(|r| r[0].as_i64());
            let vals: Option<Vec<f64>> = r.and_then(|r| r[1..6].iter().map(num).collect::<Option<Vec<f64>>>());
            match (t, vals) {
                (Some(t), Some(v)) => {
                    times.push(t);
                    parsed.push([v[0], v[1], v[2], v[3], v[4]]);
                }
                _ => return Err(Error::data(origin(), format!("kline row {i} malformed"))),
            }
        }
        let mut idx: Vec<usize> = (0..times.len()).collect();
        idx.sort_by_key(|&i| times[i]);
        idx.dedup_by_key(|i| times[*i]);
        let mut k = Self::default();
        for i in idx {
            k.t.push(times[i]);
            let [o, h, l, c, v] = parsed[i];
            k.open.push(o);
            k.high.push(h);
            k.low.push(l);
            k.close.push(c);
            k.volume.push(v);
        }
        if k.t.is_empty() {
            return Err(Error::data(origin(), "no klines"));
        }
        Ok(k)
    }

    pub(crate) fn len(&self) -> usize {
        self.t.len()
    }
}

/// Values on the open times present in both series (inner join of sorted times).
pub(crate) fn join(at: &[i64], a: &[f64], bt: &[i64], b: &[f64]) -> (Vec<i64>, Vec<f64>, Vec<f64>) {
    let (mut t, mut va, mut vb) = (Vec::new(), Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < at.len() && j < bt.len() {
        match at[i].cmp(&bt[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                t.push(at[i]);
                va.push(a[i]);
                vb.push(b[j]);
                i += 1;
                j += 1;
            }
        }
    }
    (t, va, vb)
}
