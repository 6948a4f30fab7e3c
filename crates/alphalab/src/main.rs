//! The `alphalab` binary: parses the command line, starts NautilusTrader's logger, runs a job,
//! and maps the outcome to an exit code (0 ok, 1 partial failure, 2 error).

use std::process::ExitCode;

use clap::Parser;

mod cli;

/// mimalloc: NautilusTrader's order path allocates and frees many small objects per fill (see
/// docs/BENCHMARKS.md, "Allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    backtest::small_pages();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            // The logger may not be up (bad settings): stderr always works.
            eprintln!("alphalab: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
