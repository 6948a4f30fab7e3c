//! Sweeps: one base [`RunSpec`] run as many variants — a parameter grid over
//! `[strategy.params]` and/or walk-forward test windows — in parallel, ranked in one table.
//!
//! Sweep file:
//! ```toml
//! rank_by = "sharpe"            # any statistic (default sharpe); drawdown/volatility/costs rank ascending
//! output = "outputs/sweep-ema"  # sweep folder: ranking.csv, ranking.json, sweep.toml, variants/NNNN/
//!
//! [base]                        # a complete run file (its `output` is ignored)
//! catalog = "data/catalog"
//! ...
//!
//! [grid]                        # strategy params: every combination (keys in sorted order, last fastest)
//! fast = [5, 10]
//! slow = [50, 100]
//!
//! [walk_forward]                # optional: consecutive test windows over base start..end (or the data range)
//! train_days = 30
//! test_days = 7
//! step_days = 7
//! ```
//!
//! Search (on a Ray cluster, `alphalab sweep --ray`): instead of a `[grid]`, a `[search]` over
//! ranges of the same keys, a budget of trials chosen at random or by Optuna's TPE:
//! ```toml
//! [search]
//! method = "tpe"                # or "random"
//! trials = 32
//! seed = 7
//! [search.space]
//! fast = { low = 2, high = 50, type = "int" }
//! threshold = { low = 0.001, high = 0.1, log = true }
//! ```
//!
//! Walk-forward: the framework fits NOTHING on the train windows. Each variant runs on its test
//! window `[test_start, test_end)` only; the train window `[train_start, train_end)` (RFC 3339)
//! is passed to the strategy as the params `train_start` / `train_end` for the researcher's own
//! use (set `pass_train_window = false` for strategies without those params, e.g. the baselines).
//! Variant order: windows outer, grid combinations inner.
//!
//! Parallelism: `threads` workers pull variant indices from a shared counter; the inputs are
//! loaded once and shared behind an `Arc`; every engine is built, run and dropped inside its
//! worker (the engine is not `Send`; msgbus is thread-local). Results are stored by variant
//! index, so files and ranking are identical whatever the thread count. NautilusTrader's log
//! clock is process-global during `run()`: with several workers the log lines' timestamps mix
//! (cosmetic only; engine clocks and results are per engine).

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use serde::{Deserialize, Serialize};

use crate::{
    engine::{Progress, RunOptions, logging_guard, run_inputs},
    error::{Error, Result},
    inputs::{CatalogSource, Inputs},
    output::{pretty_json, write_results},
    registry::Registry,
    spec::RunSpec,
    stats::{LOWER_IS_BETTER, STAT_NAMES, Stats},
};

fn bad(key: impl Into<String>, msg: impl std::fmt::Display) -> Error {
    Error::spec(key, msg)
}

const DAY_NS: u64 = 86_400_000_000_000;

/// `[walk_forward]` of a sweep file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalkForward {
    pub train_days: u64,
    pub test_days: u64,
    pub step_days: u64,
    /// Pass `train_start` / `train_end` to the strategy params (default true).
    #[serde(default = "yes")]
    pub pass_train_window: bool,
}

fn yes() -> bool {
    true
}

fn default_rank() -> String {
    "sharpe".into()
}

/// A sweep file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Statistic to rank by (a [`Stats`] field; default `sharpe`).
    #[serde(default = "default_rank")]
    pub rank_by: String,
    /// Sweep folder; nothing is written when absent.
    #[serde(default)]
    pub output: Option<PathBuf>,
    pub base: RunSpec,
    /// Strategy param name → values; a dotted name sets a key of the run itself instead
    /// (`venue.taker_fee`, `rebalance_threshold` is `run.rebalance_threshold`,
    /// `execution.limit_offset_bps`), e.g. for cost sensitivity.
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<toml::Value>>,
    #[serde(default)]
    pub walk_forward: Option<WalkForward>,
    /// A search over ranges instead of a grid (Ray sweeps only).
    #[serde(default)]
    pub search: Option<Search>,
}

/// How a search picks its trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMethod {
    Random,
    /// Optuna's Tree-structured Parzen Estimator (after a few random trials).
    Tpe,
}

impl SearchMethod {
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            SearchMethod::Random => "random",
            SearchMethod::Tpe => "tpe",
        }
    }
}

/// The range of one searched key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub low: f64,
    pub high: f64,
    /// `int` or `float` (default).
    #[serde(default = "float_kind", rename = "type")]
    pub kind: String,
    /// Sample on a log scale.
    #[serde(default)]
    pub log: bool,
    /// Sample on a grid of this step (not with `log`).
    #[serde(default)]
    pub step: Option<f64>,
}

fn float_kind() -> String {
    "float".into()
}

/// `[search]` of a sweep file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    pub method: SearchMethod,
    /// Budget of trials.
    pub trials: usize,
    #[serde(default)]
    pub seed: u64,
    /// Key (strategy param, or a dotted run key as in `[grid]`) → range.
    pub space: BTreeMap<String, Range>,
}

impl SweepSpec {
    /// The keys that vary between variants: the grid's, or the search space's.
    #[must_use]
    pub fn keys(&self) -> Vec<String> {
        match &self.search {
            Some(s) => s.space.keys().cloned().collect(),
            None => self.grid.keys().cloned().collect(),
        }
    }

    /// Parses a sweep file; errors name the offending key.
    ///
    /// # Errors
    /// TOML syntax, unknown/missing keys, wrong types, an unknown `rank_by`.
    pub fn from_toml(text: &str) -> Result<Self> {
        let s: Self = toml::from_str(text).map_err(|e| bad("sweep file", e.to_string().trim_end()))?;
        s.validate()?;
        Ok(s)
    }

    /// Reads and parses a sweep file.
    ///
    /// # Errors
    /// I/O and [`Self::from_toml`] errors, naming the path.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        Self::from_toml(&text).map_err(|e| bad(path.display().to_string(), e))
    }

    /// Checks `rank_by`, the grid and the walk-forward lengths.
    ///
    /// # Errors
    /// Names the key.
    pub fn validate(&self) -> Result<()> {
        if !STAT_NAMES.contains(&self.rank_by.as_str()) {
            let msg = format!("unknown statistic {:?} (one of {})", self.rank_by, STAT_NAMES.join(", "));
            return Err(bad("rank_by", msg));
        }
        for (k, v) in &self.grid {
            if v.is_empty() {
                return Err(bad(format!("grid.{k}"), "no values"));
            }
            if self.walk_forward.as_ref().is_some_and(|w| w.pass_train_window)
                && (k == "train_start" || k == "train_end")
            {
                return Err(bad(format!("grid.{k}"), "set by walk_forward"));
            }
        }
        if !self.grid.is_empty() && !self.base.strategy.params.is_table() {
            return Err(bad("base.strategy.params", "must be a table to apply the grid"));
        }
        if let Some(w) = &self.walk_forward
            && (w.test_days == 0 || w.step_days == 0)
        {
            return Err(bad("walk_forward", "test_days and step_days must be > 0"));
        }
        if let Some(search) = &self.search {
            if !self.grid.is_empty() || self.walk_forward.is_some() {
                return Err(bad("search", "a search replaces [grid] and [walk_forward]: keep one"));
            }
            if search.trials == 0 || search.space.is_empty() {
                return Err(bad("search", "needs trials > 0 and at least one key in [search.space]"));
            }
            for (k, r) in &search.space {
                let key = format!("search.space.{k}");
                if !r.low.is_finite() || !r.high.is_finite() || r.low >= r.high {
                    return Err(bad(key, format!("low {} must be below high {}", r.low, r.high)));
                }
                if r.kind != "int" && r.kind != "float" {
                    return Err(bad(key, format!("type {:?}: int or float", r.kind)));
                }
                if r.log && (r.step.is_some() || r.low <= 0.0) {
                    return Err(bad(key, "log needs low > 0 and no step"));
                }
            }
            if !self.base.strategy.params.is_table() {
                return Err(bad("base.strategy.params", "must be a table to apply the search"));
            }
        }
        Ok(())
    }
}

/// A walk-forward window (ns; ends exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub train_start: u64,
    pub train_end: u64,
    pub test_start: u64,
    pub test_end: u64,
}

/// One run of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub index: usize,
    /// The grid point (param name → value).
    pub grid: BTreeMap<String, toml::Value>,
    pub window: Option<Window>,
    /// The run as executed (params, start/end and output set).
    pub spec: RunSpec,
}

use data::ns_to_rfc3339 as rfc3339;

fn parse_time(key: &'static str, s: &str) -> Result<u64> {
    data::rfc3339_to_ns(key, s).map(|t| t.as_u64()).map_err(|e| bad(key, e))
}

/// Every variant of `spec`; `data_range` (first, last `ts_init`) is used for walk-forward when
/// the base has no `start` / `end`.
///
/// # Errors
/// Bad times, or a walk-forward with no complete test window.
pub fn variants(spec: &SweepSpec, data_range: Option<(u64, u64)>) -> Result<Vec<Variant>> {
    let mut points: Vec<BTreeMap<String, toml::Value>> = vec![BTreeMap::new()];
    for (k, values) in &spec.grid {
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.insert(k.clone(), v.clone());
                    q
                })
            })
            .collect();
    }
    let windows: Vec<Option<Window>> = match &spec.walk_forward {
        None => vec![None],
        Some(w) => {
            let start = match &spec.base.start {
                Some(s) => parse_time("base.start", s)?,
                None => data_range.ok_or_else(|| bad("walk_forward", "no data and no base.start"))?.0,
            };
            let end_excl = match &spec.base.end {
                Some(s) => parse_time("base.end", s)? + 1,
                None => data_range.ok_or_else(|| bad("walk_forward", "no data and no base.end"))?.1 + 1,
            };
            let mut out = Vec::new();
            let mut s = start;
            loop {
                let test_start = s + w.train_days * DAY_NS;
                let test_end = test_start + w.test_days * DAY_NS;
                if test_end > end_excl {
                    break;
                }
                out.push(Some(Window { train_start: s, train_end: test_start, test_start, test_end }));
                s += w.step_days * DAY_NS;
            }
            if out.is_empty() {
                let msg =
                    format!("no complete train+test window between {} and {}", rfc3339(start), rfc3339(end_excl - 1));
                return Err(bad("walk_forward", msg));
            }
            out
        }
    };
    let mut out = Vec::new();
    for window in windows {
        for point in &points {
            out.push(variant(spec, out.len(), point, window)?);
        }
    }
    Ok(out)
}

/// Variant `index` of `spec` at a grid (or search) point and walk-forward window.
fn variant(
    spec: &SweepSpec,
    index: usize,
    point: &BTreeMap<String, toml::Value>,
    window: Option<Window>,
) -> Result<Variant> {
    let pass_train = spec.walk_forward.as_ref().is_some_and(|w| w.pass_train_window);
    let mut run = with_run_keys(&spec.base, point)?;
    if let toml::Value::Table(t) = &mut run.strategy.params {
        for (k, v) in point.iter().filter(|(k, _)| !k.contains('.')) {
            t.insert(k.clone(), v.clone());
        }
        if let (Some(w), true) = (window, pass_train) {
            t.insert("train_start".into(), toml::Value::String(rfc3339(w.train_start)));
            t.insert("train_end".into(), toml::Value::String(rfc3339(w.train_end)));
        }
    } else if pass_train && window.is_some() {
        return Err(bad("base.strategy.params", "must be a table to pass the train window"));
    }
    if let Some(w) = window {
        run.start = Some(rfc3339(w.test_start));
        run.end = Some(rfc3339(w.test_end - 1));
    }
    run.output = spec.output.as_ref().map(|o| o.join("variants").join(format!("{index:04}")));
    Ok(Variant { index, grid: point.clone(), window, spec: run })
}

/// Trial `index` of a search at `params` (JSON numbers as the search picked them; every key of
/// `[search.space]`, no other).
///
/// # Errors
/// No `[search]`, a key outside the space or missing, a value outside its range, a run the
/// params make invalid.
pub fn search_variant(
    spec: &SweepSpec,
    index: usize,
    params: &serde_json::Map<String, serde_json::Value>,
) -> Result<Variant> {
    let search = spec.search.as_ref().ok_or_else(|| bad("search", "the sweep file has no [search]"))?;
    let mut point = BTreeMap::new();
    for (k, r) in &search.space {
        let v = params.get(k).ok_or_else(|| bad(format!("search.space.{k}"), "no value given"))?;
        let x = v.as_f64().filter(|x| *x >= r.low && *x <= r.high).ok_or_else(|| {
            bad(format!("search.space.{k}"), format!("{v} is not a number in [{}, {}]", r.low, r.high))
        })?;
        let value = match (r.kind.as_str(), v.as_i64()) {
            ("int", Some(i)) => toml::Value::Integer(i),
            ("int", None) => return Err(bad(format!("search.space.{k}"), format!("{v} is not an integer"))),
            _ => toml::Value::Float(x),
        };
        point.insert(k.clone(), value);
    }
    if let Some(k) = params.keys().find(|k| !search.space.contains_key(*k)) {
        return Err(bad("search", format!("{k} is not a key of [search.space]")));
    }
    variant(spec, index, &point, None)
}

/// `base` with the grid point's dotted keys set (`venue.taker_fee`; `run.<key>` for a top-level
/// key), checked by deserialising the result (unknown keys and wrong types are refused).
fn with_run_keys(base: &RunSpec, point: &BTreeMap<String, toml::Value>) -> Result<RunSpec> {
    let dotted: Vec<_> = point.iter().filter(|(k, _)| k.contains('.')).collect();
    if dotted.is_empty() {
        return Ok(base.clone());
    }
    let mut doc = toml::Value::try_from(base).map_err(|e| Error::encode("the base run", e))?;
    for (k, v) in dotted {
        let path: Vec<&str> = k.strip_prefix("run.").unwrap_or(k).split('.').collect();
        let (last, parents) = path.split_last().expect("split yields one part");
        let mut t = &mut doc;
        for p in parents {
            t = t
                .as_table_mut()
                .and_then(|t| t.get_mut(*p))
                .ok_or_else(|| bad(format!("grid.{k}"), format!("the base run has no table `{p}`")))?;
        }
        let t = t.as_table_mut().ok_or_else(|| bad(format!("grid.{k}"), "not a table"))?;
        t.insert((*last).to_string(), v.clone());
    }
    doc.try_into().map_err(|e: toml::de::Error| bad("grid", e.to_string().trim_end()))
}

/// Outcome of one variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub variant: usize,
    pub grid: BTreeMap<String, toml::Value>,
    pub window: Option<Window>,
    /// Engine iterations (events processed), 0 on error.
    pub iterations: usize,
    pub stats: Option<Stats>,
    pub error: Option<String>,
    /// Searches: `random` or `tpe`, the sampler that picked this trial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chosen_by: Option<String>,
}

impl Outcome {
    /// The outcome of a variant whose run folder another process wrote (a Ray task): its
    /// statistics and event count from `result.json`.
    ///
    /// # Errors
    /// No output folder, or a missing or malformed `result.json`, naming it.
    pub fn read(v: &Variant) -> Result<Self> {
        let dir = v.spec.output.as_ref().ok_or_else(|| bad("output", "the sweep has no output folder"))?;
        let path = dir.join("result.json");
        let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
        #[derive(Deserialize)]
        struct Head {
            iterations: usize,
            stats: Stats,
        }
        let h: Head = serde_json::from_str(&text).map_err(|e| bad(path.display().to_string(), e))?;
        Ok(Self::of(v, h.iterations, Some(h.stats), None))
    }

    /// The outcome of `v`.
    #[must_use]
    pub fn of(v: &Variant, iterations: usize, stats: Option<Stats>, error: Option<String>) -> Self {
        Self { variant: v.index, grid: v.grid.clone(), window: v.window, iterations, stats, error, chosen_by: None }
    }
}

/// A ranked sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepResult {
    pub rank_by: String,
    /// Best first; failed variants last (by index).
    pub ranking: Vec<Outcome>,
}

impl SweepResult {
    /// Number of failed variants.
    #[must_use]
    pub fn failures(&self) -> usize {
        self.ranking.iter().filter(|o| o.error.is_some()).count()
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

fn run_one(v: &Variant, inputs: &Inputs, registry: &Registry) -> Outcome {
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<_> {
        // The shared inputs are read in place: a variant copies only its chunks.
        let r = run_inputs(&v.spec, inputs, registry, RunOptions::default())?;
        if let Some(dir) = &v.spec.output {
            write_results(dir, &v.spec, &r)?;
        }
        Ok(r)
    }));
    let (iterations, stats, error) = match res {
        Ok(Ok(r)) => (r.iterations, Some(r.stats), None),
        Ok(Err(e)) => (0, None, Some(e.to_string())),
        Err(p) => (0, None, Some(format!("panicked: {}", panic_text(p.as_ref())))),
    };
    if let Some(e) = &error {
        log::error!("sweep variant {}: {e}", v.index);
    }
    Outcome::of(v, iterations, stats, error)
}

/// The data of every variant, loaded once from the base run's catalog (its `start`..`end`) and
/// shared read-only by the workers.
///
/// # Errors
/// Catalog errors, naming the run-file key.
pub fn load_shared(base: &RunSpec) -> Result<Inputs> {
    let (start, end) = (base.start_ns()?, base.end_ns()?);
    CatalogSource::open(base)?.load_all(start.map(|t| t.as_u64()), end.map(|t| t.as_u64()))
}

/// Loads the base inputs once and runs the sweep (see [`run_sweep_inputs`]).
///
/// # Errors
/// Loading errors, bad variants, output I/O. Failed variants are reported in the ranking.
pub fn run_sweep(
    spec: &SweepSpec,
    registry: &Registry,
    threads: usize,
    progress: Option<Progress>,
) -> Result<SweepResult> {
    let inputs = Arc::new(load_shared(&spec.base)?);
    run_sweep_inputs(spec, inputs, registry, threads, progress)
}

/// Runs every variant on `threads` workers (one engine at a time per worker; `progress` is
/// told each finished variant), ranks them by
/// `spec.rank_by`, writes per-variant results and `ranking.csv` / `ranking.json` /
/// `sweep.toml` to `spec.output` (if set).
///
/// # Errors
/// Bad spec or variants, output I/O. Failed variants are reported in the ranking.
pub fn run_sweep_inputs(
    spec: &SweepSpec,
    inputs: Arc<Inputs>,
    registry: &Registry,
    threads: usize,
    progress: Option<Progress>,
) -> Result<SweepResult> {
    spec.validate()?;
    if spec.search.is_some() {
        return Err(bad("search", "a search runs on a Ray cluster: add --ray ADDRESS (`auto`: this machine's)"));
    }
    let variants = variants(spec, inputs.time_range())?;
    let n = variants.len();
    let threads = threads.clamp(1, n.max(1));
    log::info!("sweep: {n} variants on {threads} threads");
    // Initialise/keep the nautilus logger alive across all workers' engines (see logging_guard).
    let _log = logging_guard()?;
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; n]);
    std::thread::scope(|scope| -> Result<()> {
        let mut handles = Vec::new();
        for w in 0..threads {
            let (next, slots, variants, inputs, progress) = (&next, &slots, &variants, &inputs, &progress);
            let h = std::thread::Builder::new()
                .name(format!("sweep-{w}"))
                .stack_size(32 << 20)
                .spawn_scoped(scope, move || {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= n {
                            break;
                        }
                        let o = run_one(&variants[i], inputs, registry);
                        slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(o);
                        if let Some(p) = progress {
                            p.advance(1);
                        }
                    }
                })
                .map_err(Error::io("spawning a sweep worker"))?;
            handles.push(h);
        }
        for h in handles {
            h.join().map_err(|p| Error::Engine {
                context: "sweep worker".into(),
                message: format!("panicked: {}", panic_text(p.as_ref())),
            })?;
        }
        Ok(())
    })?;
    let outcomes: Vec<Outcome> = slots
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .enumerate()
        .map(|(i, o)| o.ok_or_else(|| Error::Engine { context: format!("variant {i}"), message: "was not run".into() }))
        .collect::<Result<_>>()?;
    let result = SweepResult { rank_by: spec.rank_by.clone(), ranking: rank(outcomes, &spec.rank_by) };
    if let Some(dir) = &spec.output {
        write_sweep(dir, spec, &result)?;
    }
    Ok(result)
}

/// Sorts best first by `stat` (descending, ascending for [`LOWER_IS_BETTER`]); ties and
/// failures by variant index, failures last.
#[must_use]
pub fn rank(mut outcomes: Vec<Outcome>, stat: &str) -> Vec<Outcome> {
    let asc = LOWER_IS_BETTER.contains(&stat);
    let key = |o: &Outcome| o.stats.as_ref().and_then(|s| s.get(stat)).filter(|x| !x.is_nan());
    outcomes.sort_by(|a, b| match (key(a), key(b)) {
        (Some(x), Some(y)) => {
            let c = if asc { x.total_cmp(&y) } else { y.total_cmp(&x) };
            c.then(a.variant.cmp(&b.variant))
        }
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.variant.cmp(&b.variant),
    });
    outcomes
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The ranking as CSV (one row per variant; grid keys, window, every statistic, error).
#[must_use]
pub fn ranking_csv(result: &SweepResult, grid_keys: &[String]) -> String {
    let mut s = String::from("rank,variant");
    for k in grid_keys {
        s += &format!(",{}", csv_field(k));
    }
    let searched = result.ranking.iter().any(|o| o.chosen_by.is_some());
    if searched {
        s += ",chosen_by";
    }
    s += ",train_start,train_end,test_start,test_end,iterations";
    for k in STAT_NAMES {
        s += &format!(",{k}");
    }
    s += ",error\n";
    for (r, o) in result.ranking.iter().enumerate() {
        let _ = write!(s, "{},{}", r + 1, o.variant);
        for k in grid_keys {
            let _ = write!(s, ",{}", csv_field(&o.grid.get(k).map(value_text).unwrap_or_default()));
        }
        if searched {
            let _ = write!(s, ",{}", o.chosen_by.as_deref().unwrap_or_default());
        }
        match o.window {
            Some(w) => {
                let _ = write!(
                    s,
                    ",{},{},{},{}",
                    rfc3339(w.train_start),
                    rfc3339(w.train_end),
                    rfc3339(w.test_start),
                    rfc3339(w.test_end)
                );
            }
            None => s += ",,,,",
        }
        let _ = write!(s, ",{}", o.iterations);
        let fields: BTreeMap<String, String> =
            o.stats.as_ref().map(|x| x.fields().into_iter().collect()).unwrap_or_default();
        for k in STAT_NAMES {
            let _ = write!(s, ",{}", fields.get(*k).cloned().unwrap_or_default());
        }
        let _ = writeln!(s, ",{}", csv_field(o.error.as_deref().unwrap_or("")));
    }
    s
}

/// A compact text table of the ranking (for logs): rank, variant, grid, test window, the
/// ranking statistic and a few headline statistics.
#[must_use]
pub fn ranking_table(result: &SweepResult, grid_keys: &[String]) -> String {
    let mut head: Vec<String> = vec!["rank".into(), "variant".into()];
    head.extend(grid_keys.iter().cloned());
    head.push("test_start".into());
    let shown: Vec<&str> = {
        let mut v = vec![result.rank_by.as_str()];
        for k in ["total_return", "sharpe", "max_drawdown", "trade_count"] {
            if !v.contains(&k) {
                v.push(k);
            }
        }
        v
    };
    head.extend(shown.iter().map(|s| (*s).to_string()));
    head.push("error".into());
    let mut rows = vec![head];
    for (r, o) in result.ranking.iter().enumerate() {
        let mut row = vec![(r + 1).to_string(), o.variant.to_string()];
        row.extend(grid_keys.iter().map(|k| o.grid.get(k).map(value_text).unwrap_or_default()));
        row.push(o.window.map(|w| rfc3339(w.test_start)).unwrap_or_default());
        for k in &shown {
            row.push(o.stats.as_ref().and_then(|s| s.get(k)).map(|x| format!("{x:.4}")).unwrap_or_default());
        }
        row.push(o.error.clone().unwrap_or_default());
        rows.push(row);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

/// Writes `ranking.csv`, `ranking.json` and `sweep.toml` into `dir` (variant folders are
/// written by the runs).
///
/// # Errors
/// I/O and serialisation errors, naming the file.
pub fn write_sweep(dir: &Path, spec: &SweepSpec, result: &SweepResult) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let put = |name: &str, body: String| -> Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, body).map_err(Error::io(p))
    };
    put("ranking.csv", ranking_csv(result, &spec.keys()))?;
    put("ranking.json", pretty_json("ranking.json", result)?)?;
    put("sweep.toml", toml::to_string(spec).map_err(|e| Error::encode("sweep.toml", e))?)?;
    Ok(())
}
