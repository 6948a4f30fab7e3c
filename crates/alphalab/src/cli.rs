//! Command-line definitions and their thin dispatch to the library jobs.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use alphalab::{
    backtest_cmd, brackets_cmd, console, demo, logging, pipeline,
    settings::{BracketsArgs, SettingsFile, SnapshotArgs},
    snapshot,
};
use anyhow::Context;
use clap::{Parser, Subcommand};
use sim::SimConfig;

#[derive(Debug, Parser)]
#[command(
    name = "alphalab",
    version,
    about = "Binance alpha research workbench on NautilusTrader",
    after_help = "The terminal shows progress and a summary per step; the full log (NautilusTrader's, at INFO) goes \
                  to alphalab.log in the command's output folder. --verbose or LOG_LEVEL bring it to the terminal too; \
                  NAUTILUS_LOG (NautilusTrader's own spec, per-component levels) replaces the whole configuration."
)]
pub struct Cli {
    /// Also show the log (INFO and up) on the terminal.
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the offline Binance simulator on loopback until Ctrl-C.
    Sim(SimArgs),
    /// Fetch every legacy payload (40 REST + the rolling-window ticker WebSocket) into OUTPUT_DIR.
    Snapshot {
        /// TOML settings file with a [snapshot] table (below flags and environment variables).
        #[arg(long, env = "ALPHALAB_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        args: Box<SnapshotArgs>,
    },
    /// The account's USD-M leverage brackets (USER_DATA: signed with API_KEY / API_SECRET) into one JSON file.
    #[command(after_help = "The file holds Binance's response as received; a backtest reads it with \
                            `venue.brackets = \"<file>\"`. Against the simulator: \
                            API_KEY=alphalab-sim-key API_SECRET=alphalab-sim-secret \
                            BASE_PATH_FUTURES=http://127.0.0.1:8900 alphalab brackets")]
    Brackets {
        /// TOML settings file: its [snapshot] table supplies output_dir, base_path_futures, log_level,
        /// timeout_secs and max_retries (below flags and environment variables).
        #[arg(long, env = "ALPHALAB_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        args: Box<BracketsArgs>,
    },
    /// Paginated REST history into the raw archive (weight-optimal, resumable), optionally into a catalog.
    Backfill(BackfillCli),
    /// Import data.binance.vision bulk files (.zip/.csv, checksums verified) or recorded streams (.gz lines
    /// `<receive ns> <frame>`, hftbacktest's format) into the raw archive and a catalog.
    Import(ImportCli),
    /// Record WebSocket market streams (and the REST depth snapshots their books need) into the raw archive,
    /// until Ctrl-C, SIGTERM or --duration; optionally into the catalog as each hourly file completes.
    Record(RecordCli),
    /// Inspect or rebuild the ParquetDataCatalog.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Backtest one run file (TOML RunSpec) on the catalog; results into its `output` folder.
    Backtest {
        /// Run file, e.g. examples/buy_and_hold.toml.
        run: PathBuf,
        /// Write the result files only (no report, no log file, nothing on stdout; a failure is
        /// one `variant error:` line on stderr, exit code 1): a variant of a Ray sweep.
        #[arg(long)]
        results_only: bool,
    },
    /// Run a sweep file: a base run × a parameter grid and/or walk-forward windows, in parallel, ranked.
    Sweep {
        /// Sweep file ([base] run, [grid], [walk_forward], rank_by, output).
        sweep: PathBuf,
        /// Worker threads (one engine each) [default: available parallelism].
        #[arg(long, conflicts_with = "ray")]
        threads: Option<usize>,
        /// Run every variant as a task on this Ray cluster (GCS `host:port`, or `auto` for the
        /// cluster this machine belongs to); see scripts/ray/README.md.
        #[arg(long)]
        ray: Option<String>,
    },
    /// Write trial INDEX of a sweep's [search] at PARAMS (JSON) as its run file and print the
    /// path (used by the Ray driver's search mode).
    #[command(hide = true)]
    SweepVariant {
        sweep: PathBuf,
        #[arg(long)]
        index: usize,
        #[arg(long)]
        params: String,
    },
    /// Generate crates/backtest/src/strategies/<name>.rs (an Alpha with todo!() hooks) and register it.
    NewStrategy {
        /// Strategy name (snake_case, kebab-case or CamelCase; becomes the snake_case module and registry name).
        name: String,
        /// The strategies folder (holding mod.rs).
        #[arg(long, default_value = "crates/backtest/src/strategies")]
        dir: PathBuf,
    },
    /// Figures and reports from collected data.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// End to end on the embedded simulator: snapshot, backfill into a catalog, figures, backtests, a sweep, reports.
    Demo {
        /// Output folder.
        #[arg(long, default_value = "outputs/demo")]
        output_dir: PathBuf,
        /// WebSocket capture length in seconds.
        #[arg(long, default_value_t = 5)]
        ws_capture_seconds: u64,
        /// Market model seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Days of 1m history to backfill and backtest.
        #[arg(long, default_value_t = 3)]
        days: u64,
    },
}

/// Where the raw archive and the catalog live.
#[derive(Debug, Clone, clap::Args)]
struct Paths {
    /// Data root: raw archive under `<root>/raw`.
    #[arg(long, env = "ALPHALAB_DATA_ROOT", default_value = "data")]
    data_root: PathBuf,
    /// ParquetDataCatalog folder.
    #[arg(long, env = "ALPHALAB_CATALOG", default_value = "data/catalog")]
    catalog: PathBuf,
}

#[derive(Debug, clap::Args)]
struct BackfillCli {
    /// spot or usdm.
    #[arg(long, value_parser = ["spot", "usdm"])]
    market: String,
    /// Comma-separated symbols (pairs for index price klines), or ALL: every symbol of the
    /// market's exchangeInfo that traded in the range (USD-M: perpetuals), delisted ones
    /// included for the time they traded.
    #[arg(long, value_delimiter = ',', required_unless_present = "universe", conflicts_with = "universe")]
    symbols: Vec<String>,
    /// top:N: the N symbols with the highest quote volume on --universe-date (from its daily
    /// kline), each fetched for the part of the range it traded in.
    #[arg(long, value_name = "top:N")]
    universe: Option<String>,
    /// The day --universe ranks on: YYYY-MM-DD, RFC 3339 or ms [default: the --from day].
    #[arg(long, requires = "universe")]
    universe_date: Option<String>,
    /// Start: YYYY-MM-DD, RFC 3339 or ms.
    #[arg(long)]
    from: String,
    /// End (exclusive): YYYY-MM-DD, RFC 3339 or ms; clipped to the server time.
    #[arg(long)]
    to: String,
    /// Series, comma-separated: klines:1m, aggTrades, continuousKlines:1m, markPriceKlines:1m,
    /// indexPriceKlines:1m, fundingRate, openInterestHist:5m, topLongShortPositionRatio:5m,
    /// globalLongShortAccountRatio:5m, topLongShortAccountRatio:5m, takerlongshortRatio:5m.
    #[arg(long, value_delimiter = ',', default_value = "klines:1m")]
    data: Vec<String>,
    /// REST base URL [default: BASE_PATH_SPOT / BASE_PATH_FUTURES, else production Binance].
    #[arg(long)]
    base_url: Option<String>,
    /// Pages in flight at once (the weight limiter still bounds the rate); as many symbols'
    /// series are fetched interleaved.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Request weight per minute to plan for [default: Binance's limit of the market], for an
    /// IP shared with other clients.
    #[arg(long)]
    weight_per_minute: Option<u32>,
    /// Also write the fetched series into the catalog.
    #[arg(long)]
    write_catalog: bool,
    #[command(flatten)]
    paths: Paths,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Example (the simulator: `alphalab sim`):\n  \
    alphalab record --market usdm --symbols BTCUSDT,ETHUSDT \\\n    \
    --streams trade,bookTicker,depth@100ms,kline_1m,markPrice@1s,forceOrder --duration 6h \\\n    \
    --base-url http://127.0.0.1:8900 --stream-url ws://127.0.0.1:8900/fstream --write-catalog")]
struct RecordCli {
    /// spot or usdm.
    #[arg(long, value_parser = ["spot", "usdm"])]
    market: String,
    /// Comma-separated symbols.
    #[arg(long, value_delimiter = ',', required = true)]
    symbols: Vec<String>,
    /// Streams of every symbol, comma-separated: trade, aggTrade, bookTicker, depth@100ms,
    /// kline_<interval>, and (usdm) markPrice@1s, forceOrder. depth@100ms also records the REST
    /// depth snapshots that keep its book in sync.
    #[arg(long, value_delimiter = ',', default_value = "trade,bookTicker,depth@100ms,kline_1m")]
    streams: Vec<String>,
    /// Stop after this long: 20s, 90m, 6h, 1d [default: at Ctrl-C or SIGTERM].
    #[arg(long)]
    duration: Option<String>,
    /// REST base URL (depth snapshots, exchangeInfo) [default: BASE_PATH_SPOT / BASE_PATH_FUTURES,
    /// else production Binance].
    #[arg(long)]
    base_url: Option<String>,
    /// WebSocket base URL, without /stream [default: STREAM_URL_SPOT (spot) / STREAM_URL_FUTURES
    /// (usdm), else production Binance].
    #[arg(long)]
    stream_url: Option<String>,
    /// Files are completed and new ones started at every multiple of this (UTC).
    #[arg(long, default_value = "1h")]
    rotate: String,
    /// Also convert each completed file into the catalog.
    #[arg(long)]
    write_catalog: bool,
    #[command(flatten)]
    paths: Paths,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    alphalab import ~/Downloads/data/spot/daily/klines/BTCUSDT/1m\n  \
    alphalab import --from-url https://data.binance.vision --market usdm --symbols BTCUSDT \\\n    \
    --data klines:1m,aggTrades,premiumIndexKlines:1m,fundingRate --from 2024-06-01 --to 2024-06-04")]
struct ImportCli {
    /// Bulk files (.zip or .csv) or folders holding them.
    #[arg(required_unless_present = "from_url", conflicts_with = "from_url")]
    paths: Vec<PathBuf>,
    /// Download instead from the site root of a data.binance.vision layout (https://data.binance.vision,
    /// a mirror, or `alphalab sim --archive-dir`): every file of --symbols × --data × the days
    /// (or months) overlapping [--from, --to). Checksums are verified before storing; files already
    /// stored with the same checksum are not downloaded again; a missing file (404) is reported and
    /// the others go on (exit code 1 if any file is missing or failed).
    #[arg(long, value_name = "BASE", requires_all = ["market", "symbols", "data", "from", "to"])]
    from_url: Option<String>,
    /// Market: of the files, overriding their folders (`spot`, `futures/um`); with --from-url, the
    /// market to download.
    #[arg(long, value_parser = ["spot", "usdm"])]
    market: Option<String>,
    /// With --from-url: comma-separated symbols.
    #[arg(long, value_delimiter = ',', requires = "from_url")]
    symbols: Vec<String>,
    /// With --from-url: archive kinds, comma-separated: klines:1m, aggTrades, trades, and (usdm)
    /// markPriceKlines:1m, indexPriceKlines:1m, premiumIndexKlines:1m, bookTicker, fundingRate
    /// (monthly files only), metrics (daily files only).
    #[arg(long, value_delimiter = ',', requires = "from_url")]
    data: Vec<String>,
    /// With --from-url: start, YYYY-MM-DD, RFC 3339 or ms (UTC).
    #[arg(long, requires = "from_url")]
    from: Option<String>,
    /// With --from-url: end (exclusive), YYYY-MM-DD, RFC 3339 or ms: --from 2024-06-01 --to
    /// 2024-06-04 imports the days 06-01, 06-02 and 06-03.
    #[arg(long, requires = "from_url")]
    to: Option<String>,
    /// With --from-url: monthly files instead of daily ones.
    #[arg(long, requires = "from_url")]
    monthly: bool,
    /// With --from-url: files downloaded at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// REST base URL for exchangeInfo when the raw archive has none for the market.
    #[arg(long)]
    base_url: Option<String>,
    #[command(flatten)]
    paths_: Paths,
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// Draw the five legacy figures (PNG + SVG) of a snapshot folder into DIR/figures.
    Snapshot {
        /// Snapshot folder (the OUTPUT_DIR of `alphalab snapshot`).
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// Per data type and instrument: time range, rows, gaps.
    Ls {
        #[command(flatten)]
        paths: Paths,
    },
    /// Delete the catalog and rebuild it from the raw archive alone (no network).
    Rebuild {
        #[command(flatten)]
        paths: Paths,
    },
}

fn market_of(s: &str) -> binance::Market {
    if s == "usdm" { binance::Market::UsdM } else { binance::Market::Spot }
}

/// The REST base for a market: flag, then the legacy environment variables, then production.
fn base_url(flag: Option<String>, market: binance::Market) -> String {
    let env = match market {
        binance::Market::Spot => "BASE_PATH_SPOT",
        binance::Market::UsdM => "BASE_PATH_FUTURES",
    };
    flag.or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| market.prod_rest_url().to_string())
}

#[derive(Debug, clap::Args)]
struct SimArgs {
    /// Simulator TOML file (model, limits, faults, ws); flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1:8900")]
    bind: SocketAddr,
    /// Market model seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Server time at start-up, ms since the epoch (default: wall clock).
    #[arg(long)]
    start_time_ms: Option<u64>,
    /// Latency added to every REST response, ms.
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Uniform extra latency, ms.
    #[arg(long)]
    jitter_ms: Option<u64>,
    /// Disable weight limits (429/418).
    #[arg(long)]
    no_limits: bool,
    /// data.binance.vision kline/aggTrades/trades files (.csv or .zip) to serve instead of the
    /// model; kind, symbol, interval and market come from the file name and folders. Repeatable.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    replay: Vec<PathBuf>,
    /// Market of the --replay files, overriding their folders (`spot`/`um` in the path).
    #[arg(long, value_parser = ["spot", "usdm"])]
    replay_market: Option<String>,
    /// Serve DIR/data/** under /data/** like data.binance.vision (DIR is a mirror of the site
    /// root), for `alphalab import --from-url`.
    #[arg(long, value_name = "DIR")]
    archive_dir: Option<PathBuf>,
    /// Log level.
    #[arg(long, env = "LOG_LEVEL", default_value = "INFO")]
    log_level: String,
}

impl SimArgs {
    fn config(&self) -> anyhow::Result<SimConfig> {
        let mut cfg = match &self.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
                SimConfig::from_toml(&text).with_context(|| format!("{}", p.display()))?
            }
            None => SimConfig::default(),
        };
        cfg.bind = self.bind;
        if let Some(s) = self.seed {
            cfg.model.seed = s;
        }
        cfg.start_time_ms = self.start_time_ms.or(cfg.start_time_ms);
        if let Some(l) = self.latency_ms {
            cfg.faults.latency_ms = l;
        }
        if let Some(j) = self.jitter_ms {
            cfg.faults.jitter_ms = j;
        }
        if self.no_limits {
            cfg.limits.enabled = false;
        }
        let market = self
            .replay_market
            .as_deref()
            .map(|m| if m == "usdm" { binance::Market::UsdM } else { binance::Market::Spot });
        for p in &self.replay {
            cfg.replay.push(sim::ReplayFile::infer(p, market)?);
        }
        if let Some(d) = &self.archive_dir {
            cfg.archive_dir = Some(d.clone());
        }
        Ok(cfg)
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// `LOG_LEVEL` from the environment (the snapshot also takes it from its flags and file).
fn env_level() -> Option<String> {
    std::env::var("LOG_LEVEL").ok().filter(|v| !v.trim().is_empty())
}

/// Starts logging for a command whose outputs go to `dir`.
fn log_to(verbose: bool, dir: Option<&std::path::Path>) -> anyhow::Result<logging::LogGuard> {
    logging::init(env_level().as_deref(), verbose, dir)
}

/// Runs one command.
///
/// # Errors
/// Settings, I/O or start-up errors; partial failures become exit code 1 instead.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let verbose = cli.verbose;
    match cli.command {
        Command::Sim(args) => {
            let cfg = args.config()?;
            let _log = logging::init(Some(&args.log_level), verbose, None)?;
            runtime()?.block_on(async {
                let handle = sim::spawn(cfg).await.context("starting the simulator")?;
                console::step(&format!("simulator listening on {} (Ctrl-C stops it)", handle.rest_url()));
                console::detail(&format!(
                    "point alphalab (or the legacy script) at it: BASE_PATH_SPOT={0} BASE_PATH_FUTURES={0} STREAM_URL_SPOT={1}",
                    handle.rest_url(),
                    handle.stream_url(binance::Market::Spot)
                ));
                tokio::signal::ctrl_c().await?;
                log::info!("simulator stopping");
                handle.shutdown().await;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Snapshot { config, args } => {
            let file = match config {
                Some(p) => SettingsFile::load(&p).map_err(anyhow::Error::msg)?,
                None => SettingsFile::default(),
            };
            let cfg = (*args).or(file.snapshot).resolve().map_err(anyhow::Error::msg)?;
            let _log = logging::init(cfg.log_level.as_deref(), verbose, Some(&cfg.output_dir))?;
            let manifest = runtime()?.block_on(snapshot::run(&cfg))?;
            snapshot::print_summary(&manifest, &cfg.output_dir);
            Ok(exit_for(manifest.failures()))
        }
        Command::Brackets { config, args } => {
            let file = match config {
                Some(p) => SettingsFile::load(&p).map_err(anyhow::Error::msg)?,
                None => SettingsFile::default(),
            };
            let cfg = (*args).resolve(file.snapshot).map_err(anyhow::Error::msg)?;
            // The log goes beside the output file.
            let dir = cfg.out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let _log = logging::init(cfg.log_level.as_deref(), verbose, Some(dir))?;
            let fetched = runtime()?.block_on(brackets_cmd::run(&cfg))?;
            console::step(&brackets_cmd::summary(&fetched));
            Ok(ExitCode::SUCCESS)
        }
        Command::Backfill(a) => {
            let _log = log_to(verbose, Some(&a.paths.data_root))?;
            let market = market_of(&a.market);
            let specs = a.data.iter().map(|t| data::dataset::Spec::parse(market, t)).collect::<Result<Vec<_>, _>>()?;
            let from_ms = data::user_time_ms("--from", &a.from)?;
            let date_ms = match &a.universe_date {
                Some(d) => data::user_time_ms("--universe-date", d)?,
                None => from_ms,
            };
            let args = pipeline::BackfillArgs {
                market,
                symbols: data::universe::Selection::parse(&a.symbols, a.universe.as_deref(), date_ms)?,
                specs,
                from_ms,
                to_ms: data::user_time_ms("--to", &a.to)?,
                base_url: base_url(a.base_url, market),
                concurrency: a.concurrency.max(1),
                catalog: a.write_catalog.then(|| a.paths.catalog.clone()),
                data_root: a.paths.data_root,
                weight_per_minute: a.weight_per_minute,
            };
            let reports = runtime()?.block_on(pipeline::backfill(&args))?;
            Ok(exit_for(reports.iter().filter(|r| !r.errors.is_empty()).count()))
        }
        Command::Import(a) => {
            let _log = log_to(verbose, Some(&a.paths_.data_root))?;
            let market = a.market.as_deref().map(market_of);
            if let (Some(archive_url), Some(market)) = (a.from_url, market) {
                let kinds =
                    a.data.iter().map(|t| data::download::archive_spec(market, t)).collect::<Result<Vec<_>, _>>()?;
                let request = data::download::Request {
                    market,
                    symbols: a.symbols,
                    kinds,
                    from_ms: data::user_time_ms("--from", a.from.as_deref().unwrap_or_default())?,
                    to_ms: data::user_time_ms("--to", a.to.as_deref().unwrap_or_default())?,
                    monthly: a.monthly,
                };
                let args = pipeline::UrlImportArgs {
                    archive_url,
                    request,
                    rest_url: a.base_url,
                    data_root: a.paths_.data_root,
                    catalog: a.paths_.catalog,
                    concurrency: a.concurrency.max(1),
                };
                let report = pipeline::import_url(&args)?;
                return Ok(exit_for(report.failures()));
            }
            let r = pipeline::import(&a.paths, market, a.base_url, &a.paths_.data_root, &a.paths_.catalog)?;
            Ok(exit_for(r.refused.len()))
        }
        Command::Record(a) => {
            let _log = log_to(verbose, Some(&a.paths.data_root))?;
            let market = market_of(&a.market);
            let args = alphalab::record_cmd::RecordArgs {
                market,
                symbols: a.symbols.iter().map(|s| s.trim().to_ascii_uppercase()).collect(),
                streams: alphalab::record_cmd::parse_streams(&a.streams, market).map_err(anyhow::Error::msg)?,
                duration: a
                    .duration
                    .as_deref()
                    .map(alphalab::record_cmd::parse_duration)
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                rest_url: base_url(a.base_url, market),
                stream_url: alphalab::record_cmd::stream_url(a.stream_url, market),
                rotate_every: alphalab::record_cmd::parse_duration(&a.rotate).map_err(anyhow::Error::msg)?,
                catalog: a.write_catalog.then(|| a.paths.catalog.clone()),
                data_root: a.paths.data_root,
            };
            let recorded = runtime()?.block_on(alphalab::record_cmd::run(&args))?;
            alphalab::record_cmd::print_summary(&args, &recorded);
            Ok(exit_for(recorded.refused.len()))
        }
        Command::Catalog { command } => match command {
            CatalogCommand::Ls { paths } => {
                let _log = log_to(verbose, None)?;
                pipeline::ls(&paths.catalog)?;
                Ok(ExitCode::SUCCESS)
            }
            CatalogCommand::Rebuild { paths } => {
                let _log = log_to(verbose, Some(&paths.data_root))?;
                Ok(exit_for(pipeline::rebuild(&paths.data_root, &paths.catalog)?))
            }
        },
        Command::Backtest { run, results_only } => {
            let spec = backtest::spec::RunSpec::load(&run)?;
            if results_only {
                // no log file: the variant folder must hold what a local sweep's holds
                let _log = log_to(false, None)?;
                return backtest_cmd::backtest(&run, &spec, backtest_cmd::Detail::ResultsOnly);
            }
            let _log = log_to(verbose, spec.output.as_deref())?;
            backtest_cmd::backtest(&run, &spec, backtest_cmd::Detail::Full)
        }
        Command::Sweep { sweep, threads, ray } => {
            let spec = backtest::sweep::SweepSpec::load(&sweep)?;
            let _log = log_to(verbose, spec.output.as_deref())?;
            match ray {
                Some(address) => alphalab::ray::sweep(&sweep, &spec, &alphalab::ray::RayOptions::new(&address)),
                None => backtest_cmd::sweep(&sweep, &spec, threads),
            }
        }
        Command::SweepVariant { sweep, index, params } => {
            let spec = backtest::sweep::SweepSpec::load(&sweep)?;
            alphalab::ray::sweep_variant(&spec, index, &params)
        }
        Command::NewStrategy { name, dir } => {
            let _log = log_to(verbose, None)?;
            backtest_cmd::new_strategy(&name, &dir)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { command: ReportCommand::Snapshot { dir } } => {
            let _log = log_to(verbose, Some(&dir))?;
            let outcomes = report::snapshot_figures(&dir)?;
            let skipped = outcomes.iter().filter(|o| !o.drawn()).count();
            console::step(&format!(
                "report: {} of {} figures in {}",
                outcomes.len() - skipped,
                outcomes.len(),
                dir.join("figures").display()
            ));
            Ok(exit_for(skipped))
        }
        Command::Demo { output_dir, ws_capture_seconds, seed, days } => {
            let _log = log_to(verbose, Some(&output_dir))?;
            demo::run(&demo::DemoArgs { output_dir, ws_capture_seconds, seed, days })
        }
    }
}

fn exit_for(failures: usize) -> ExitCode {
    if failures == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
