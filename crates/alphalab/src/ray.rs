//! Sweeps on a Ray cluster (`alphalab sweep SWEEP.toml --ray ADDRESS`). The Rust binary stays
//! the engine; Ray only places processes. This side expands the sweep exactly as a local sweep
//! does, writes each variant's run file and a plan, and starts the Python driver
//! (`scripts/ray/sweep.py`, Ray 2.60.0, see its README) which runs one task per variant —
//! `alphalab backtest RUN --results-only` on whichever node has a free CPU — and brings every
//! variant folder back. Then the variants are ranked and reported as locally, so a cluster
//! sweep's `ranking.csv` and variant files equal the local sweep's byte for byte.
//!
//! Files in the sweep folder besides a local sweep's: `ray/NNNN.toml` (the run files sent),
//! `ray-plan.json`, `ray-manifest.json` (per variant: status, node, attempts; retries),
//! `ray-driver.log` (the driver's and Ray's messages).
//!
//! Deployment: the binary, the catalog and the sweep folder at the same absolute path on every
//! node (a shared filesystem); variant results also come back through Ray, so the sweep folder
//! needs only to be writable where the driver runs.

use std::{
    collections::BTreeMap,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
};

use anyhow::{Context, bail};
use backtest::{
    inputs::{CatalogSource, Source},
    stats::LOWER_IS_BETTER,
    sweep::{Outcome, SweepResult, SweepSpec, Variant, rank, search_variant, variants, write_sweep},
};
use data::raw::write_atomic;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::console;

/// Prefix of the one stderr line in which `backtest --results-only` states why a run failed, as
/// a local sweep would record it (a JSON string follows).
pub const VARIANT_ERROR: &str = "variant error: ";

/// Where the driver and its Python come from.
#[derive(Debug, Clone)]
pub struct RayOptions {
    /// GCS `host:port`, or `auto` (the cluster this machine belongs to).
    pub address: String,
    /// Python with `scripts/ray/requirements.txt` (`ALPHALAB_RAY_PYTHON`, default
    /// `target/ray-venv/bin/python`).
    pub python: PathBuf,
    /// `scripts/ray/sweep.py` (`ALPHALAB_RAY_DRIVER`, default: the one of this source tree).
    pub driver: PathBuf,
    /// The `alphalab` the nodes run (`ALPHALAB_RAY_BINARY`, default: this executable's path).
    pub binary: Option<PathBuf>,
    /// Ray's retries of a task whose node died.
    pub max_retries: u32,
}

impl RayOptions {
    /// Options for `address` from the environment and this source tree.
    #[must_use]
    pub fn new(address: &str) -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let env_path = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        Self {
            address: address.to_string(),
            python: env_path("ALPHALAB_RAY_PYTHON").unwrap_or_else(|| root.join("target/ray-venv/bin/python")),
            driver: env_path("ALPHALAB_RAY_DRIVER").unwrap_or_else(|| root.join("scripts/ray/sweep.py")),
            binary: env_path("ALPHALAB_RAY_BINARY"),
            max_retries: 3,
        }
    }
}

/// One variant of `ray-manifest.json`.
#[derive(Debug, Deserialize)]
struct ManifestVariant {
    index: usize,
    /// `ok`, `failed` or `lost`.
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    attempts: u32,
    #[serde(default)]
    params: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    chosen_by: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    variants: Vec<ManifestVariant>,
    #[serde(default)]
    retries: u32,
    #[serde(default)]
    nodes: Vec<String>,
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))
}

/// Runs the sweep `path` on the cluster, then ranks and reports it; exit code 1 if a variant
/// failed or was lost.
///
/// # Errors
/// No `output` folder, the catalog (for walk-forward windows), the driver failing without a
/// manifest, unreadable variant results.
pub fn sweep(path: &Path, spec: &SweepSpec, opts: &RayOptions) -> anyhow::Result<ExitCode> {
    let t = std::time::Instant::now();
    let out =
        spec.output.as_deref().context("a Ray sweep needs `output` in the sweep file: results come back as files")?;
    let out_abs = absolute(out)?;
    std::fs::create_dir_all(out_abs.join("ray")).with_context(|| format!("creating {}", out_abs.display()))?;
    let grid: Vec<Variant> = if spec.search.is_some() {
        Vec::new()
    } else {
        // The data range is only needed for walk-forward windows without base start/end.
        let range = if spec.walk_forward.is_some() { CatalogSource::open(&spec.base)?.time_range() } else { None };
        variants(spec, range)?
    };
    let mut planned = Vec::new();
    for v in &grid {
        let run_file = out_abs.join("ray").join(format!("{:04}.toml", v.index));
        write_atomic(&run_file, v.spec.to_toml()?.as_bytes())?;
        let output = v.spec.output.as_deref().context("variant without output")?;
        planned.push(json!({ "index": v.index, "run_file": run_file, "output": absolute(output)? }));
    }
    let plan = json!({
        "address": opts.address,
        "binary": match &opts.binary {
            Some(b) => b.clone(),
            None => std::env::current_exe().context("locating this binary")?,
        },
        "max_retries": opts.max_retries,
        "cwd": std::env::current_dir()?,
        "variants": planned,
        "sweep_file": absolute(path)?,
        "rank_by": spec.rank_by,
        "lower_is_better": LOWER_IS_BETTER.contains(&spec.rank_by.as_str()),
    });
    let plan_path = out_abs.join("ray-plan.json");
    write_atomic(&plan_path, serde_json::to_string_pretty(&plan)?.as_bytes())?;
    let log_path = out_abs.join("ray-driver.log");
    let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let mut cmd = Command::new(&opts.python);
    cmd.arg(&opts.driver).arg("--plan").arg(&plan_path).stdout(Stdio::piped()).stderr(log);
    if let Some(s) = &spec.search {
        cmd.args(["--search", s.method.name(), "--trials", &s.trials.to_string(), "--seed", &s.seed.to_string()]);
        cmd.arg("--space").arg(serde_json::to_string(&s.space)?);
    }
    let what = if spec.search.is_some() { "trials" } else { "variants" };
    let n = spec.search.as_ref().map_or(grid.len(), |s| s.trials);
    let bar = console::spinner(&format!("sweep on Ray {}: {n} {what}", opts.address));
    let output = cmd.output().with_context(|| {
        format!(
            "starting the Ray driver {} {} (set ALPHALAB_RAY_PYTHON to a python with scripts/ray/requirements.txt)",
            opts.python.display(),
            opts.driver.display()
        )
    })?;
    bar.finish_and_clear();
    let manifest_path = out_abs.join("ray-manifest.json");
    let manifest: Manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("reading {}", manifest_path.display()))?,
        Err(_) => {
            let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(8).collect();
            bail!(
                "the Ray driver ended with {} and brought nothing back (see {}):\n{}",
                output.status,
                log_path.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    };
    let by_index: BTreeMap<usize, &Variant> = grid.iter().map(|v| (v.index, v)).collect();
    let mut outcomes = Vec::new();
    for m in &manifest.variants {
        let v = match (&m.params, by_index.get(&m.index)) {
            (_, Some(v)) => (*v).clone(),
            (Some(p), None) => search_variant(spec, m.index, p)?,
            (None, None) => bail!("{}: variant {} is not in the plan", manifest_path.display(), m.index),
        };
        let mut o = match m.status.as_str() {
            "ok" => Outcome::read(&v)?,
            "failed" => Outcome::of(&v, 0, None, Some(variant_error(m.error.as_deref()))),
            other => {
                let why = m.error.as_deref().unwrap_or("no reason given");
                Outcome::of(&v, 0, None, Some(format!("{other} on the cluster after {} attempts: {why}", m.attempts)))
            }
        };
        o.chosen_by.clone_from(&m.chosen_by);
        outcomes.push(o);
    }
    let result = SweepResult { rank_by: spec.rank_by.clone(), ranking: rank(outcomes, &spec.rank_by) };
    write_sweep(out, spec, &result)?;
    let html = report::write_sweep_report(out)?;
    let lost = manifest.variants.iter().filter(|m| m.status == "lost").count();
    console::step(&format!(
        "sweep {} on Ray {}: {} {what} on {} nodes in {:.1} s, {} retries, ranked by {}",
        path.display(),
        opts.address,
        result.ranking.len(),
        manifest.nodes.len(),
        t.elapsed().as_secs_f64(),
        manifest.retries,
        result.rank_by
    ));
    crate::backtest_cmd::print_ranking(&result);
    console::detail(&format!("ranking.csv and variants/ in {} (report {})", out.display(), html.display()));
    let failed = result.failures();
    if failed > 0 {
        console::detail(&format!(
            "{failed} of {} variants FAILED ({lost} lost on the cluster; see the ranking's error column and ray-manifest.json)",
            result.ranking.len()
        ));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The error a local sweep records for a variant, from the failed task's stderr tail.
fn variant_error(tail: Option<&str>) -> String {
    let tail = tail.unwrap_or_default();
    tail.lines()
        .rev()
        .find_map(|l| l.strip_prefix(VARIANT_ERROR).and_then(|j| serde_json::from_str::<String>(j).ok()))
        .unwrap_or_else(|| tail.trim().to_string())
}

/// `alphalab sweep-variant`: writes trial `index` of the search at `params` (JSON) as
/// `<output>/variants/NNNN/run.toml` and prints its path (the Ray driver's search mode).
///
/// # Errors
/// Params outside the search space, no output folder, I/O.
pub fn sweep_variant(spec: &SweepSpec, index: usize, params: &str) -> anyhow::Result<ExitCode> {
    let params: serde_json::Map<String, Value> =
        serde_json::from_str(params).with_context(|| format!("--params {params:?}: not a JSON object"))?;
    let v = search_variant(spec, index, &params)?;
    let dir = v.spec.output.as_deref().context("the sweep file has no `output`")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let run_file = dir.join("run.toml");
    write_atomic(&run_file, v.spec.to_toml()?.as_bytes())?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", absolute(&run_file)?.display())?;
    Ok(ExitCode::SUCCESS)
}
