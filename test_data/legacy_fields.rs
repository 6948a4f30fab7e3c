//! Test support, included with `#[path]`: the legacy harness's field list
//! (`test_data/legacy/FIELDS.md`) parsed into shapes, and a check of a payload against one. The
//! field-list tests compare what the simulator serves and what the snapshot stores with this
//! independent list, not with the endpoint table that built the payloads.

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::Value;

/// A documented wire shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// A scalar (or anything: the list does not say).
    Any,
    /// An object with these keys, in order; `open` when the list ends in `...` (more keys allowed).
    Object { keys: Vec<(String, Shape)>, open: bool },
    /// An array of this shape (`[]` alone: of anything).
    Array(Box<Shape>),
    /// A kline row: an array of 12 scalars.
    Kline,
}

/// The FIELDS.md text, from the workspace's test data.
#[must_use]
pub fn text() -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test_data/legacy/FIELDS.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every REST payload's shape by (`spot` | `usdm`, legacy file name).
#[must_use]
pub fn rest_shapes() -> BTreeMap<(String, String), Shape> {
    let mut out = BTreeMap::new();
    let mut market = None;
    let mut last: Option<Shape> = None;
    let mut by_name: BTreeMap<String, Shape> = BTreeMap::new();
    for line in text().lines() {
        if line.starts_with("## ") {
            market = match line {
                l if l.starts_with("## Spot REST") => Some("spot"),
                l if l.starts_with("## USD-M futures REST") => Some("usdm"),
                _ => None,
            };
            by_name.clear();
            continue;
        }
        let Some(m) = market else { continue };
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 7 || cells[1] == "file" || cells[1].starts_with("---") {
            continue;
        }
        let (name, shape_text) = (cells[1].to_string(), cells[5]);
        let shape = match shape_text {
            s if s.starts_with('`') => parse(s.trim_matches('`')),
            s if s.contains("12") || s.starts_with("as klines") || s.starts_with("as index price klines") => {
                Shape::Array(Box::new(Shape::Kline))
            }
            "same fields" => last.clone().expect("a previous row"),
            s if s.starts_with("same as ") => by_name[s.trim_start_matches("same as ")].clone(),
            other => panic!("FIELDS.md {m}/{name}: shape {other:?} not understood"),
        };
        last = Some(shape.clone());
        by_name.insert(name.clone(), shape.clone());
        out.insert((m.to_string(), name), shape);
    }
    out
}

/// The rolling-window ticker event's keys.
#[must_use]
pub fn ws_ticker_keys() -> Vec<String> {
    let t = text();
    let start = t.find("{e: \"1hTicker\", ").expect("the ticker event in FIELDS.md");
    let body = &t[start + 1..start + t[start..].find('}').expect("closing brace")];
    body.split(',').map(|k| k.split(':').next().unwrap_or_default().trim().to_string()).collect()
}

/// Parses `{a, b[], c[{x, y}], d[[p,q]]}` / `[{...}]`.
fn parse(s: &str) -> Shape {
    let mut p = Parser { s: s.as_bytes(), i: 0 };
    let shape = p.shape();
    assert_eq!(p.i, s.len(), "trailing text in {s:?}");
    shape
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    fn shape(&mut self) -> Shape {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => {
                self.i += 1;
                self.skip_ws();
                let inner = if self.peek() == Some(b']') { Shape::Any } else { self.shape() };
                self.skip_ws();
                assert_eq!(self.peek(), Some(b']'), "unclosed [ at {}", self.i);
                self.i += 1;
                Shape::Array(Box::new(inner))
            }
            _ => {
                // a bare name list inside [[...]] (e.g. `[[price,qty]]`): a row of scalars
                while self.peek().is_some_and(|c| c != b']') {
                    self.i += 1;
                }
                Shape::Any
            }
        }
    }

    fn object(&mut self) -> Shape {
        self.i += 1; // {
        let (mut keys, mut open) = (Vec::new(), false);
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'}') => {
                    self.i += 1;
                    return Shape::Object { keys, open };
                }
                Some(b',') => self.i += 1,
                Some(b'.') => {
                    while self.peek() == Some(b'.') {
                        self.i += 1;
                    }
                    open = true;
                }
                Some(_) => {
                    let start = self.i;
                    while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
                        self.i += 1;
                    }
                    let name = String::from_utf8_lossy(&self.s[start..self.i]).to_string();
                    assert!(!name.is_empty(), "a key expected at {}", self.i);
                    let shape = if self.peek() == Some(b'[') { self.shape() } else { Shape::Any };
                    keys.push((name, shape));
                }
                None => panic!("unclosed {{"),
            }
        }
    }
}

/// Checks `v` against `shape`: exact keys (in order) for closed objects, at least the listed
/// keys for open ones, every element of arrays, 12 columns for kline rows.
///
/// # Errors
/// The path of the first difference.
pub fn check(shape: &Shape, v: &Value, at: &str) -> Result<(), String> {
    match (shape, v) {
        (Shape::Any, _) => Ok(()),
        (Shape::Kline, Value::Array(cols)) if cols.len() == 12 => Ok(()),
        (Shape::Kline, other) => Err(format!("{at}: a 12-column kline row expected, got {other}")),
        (Shape::Array(inner), Value::Array(items)) => {
            items.iter().enumerate().try_for_each(|(i, x)| check(inner, x, &format!("{at}[{i}]")))
        }
        (Shape::Object { keys, open }, Value::Object(map)) => {
            let want: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
            let got: Vec<&str> = map.keys().map(String::as_str).collect();
            if *open {
                if let Some(k) = want.iter().find(|k| !map.contains_key(**k)) {
                    return Err(format!("{at}: missing key {k} (have {got:?})"));
                }
            } else if got != want {
                return Err(format!("{at}: keys {got:?}, documented {want:?}"));
            }
            keys.iter().try_for_each(|(k, s)| map.get(k).map_or(Ok(()), |x| check(s, x, &format!("{at}.{k}"))))
        }
        (s, other) => Err(format!("{at}: {s:?} expected, got {other}")),
    }
}
