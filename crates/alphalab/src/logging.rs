//! NautilusTrader's logger as the one logging stack: warnings on the terminal, everything from
//! INFO up in `alphalab.log` in the command's output folder.
//!
//! The CLI initialises it once, before any engine, and holds the guard for the whole process:
//! engines created later reuse it (the first configuration wins), and dropping an engine's own
//! guard then never shuts logging down (see shared/docs/nautilus-0.57.md §10). What a user reads
//! on the terminal is the commands' summary ([`crate::console`]); `--verbose` or `LOG_LEVEL`
//! bring the log there too, and `NAUTILUS_LOG` (NautilusTrader's own spec, with per-component
//! levels) replaces the whole configuration.

use std::path::Path;

pub use nautilus_common::logging::logger::LogGuard;
use nautilus_common::logging::{init_logging, logger::LoggerConfig, writer::FileWriterConfig};

/// Log levels accepted by `LOG_LEVEL` / `--log-level`.
pub const LEVELS: &[&str] = &["OFF", "ERROR", "WARN", "WARNING", "INFO", "DEBUG", "TRACE"];

/// Name of the log file in a command's output folder.
pub const LOG_FILE: &str = "alphalab.log";

/// Maps a legacy `LOG_LEVEL` (Python names included) to a nautilus level name.
///
/// # Errors
/// Names `LOG_LEVEL` and the allowed values.
pub fn level_name(level: &str) -> Result<&'static str, String> {
    match level.trim().to_ascii_uppercase().as_str() {
        "OFF" => Ok("Off"),
        "ERROR" | "CRITICAL" => Ok("Error"),
        "WARN" | "WARNING" => Ok("Warn"),
        "INFO" => Ok("Info"),
        "DEBUG" => Ok("Debug"),
        "TRACE" => Ok("Trace"),
        other => Err(format!("LOG_LEVEL={other:?} is not one of {}", LEVELS.join(", "))),
    }
}

/// Verbosity, most quiet first (for `max`).
fn rank(level: &str) -> usize {
    ["Off", "Error", "Warn", "Info", "Debug", "Trace"].iter().position(|l| *l == level).unwrap_or(2)
}

/// The nautilus spec: the terminal at `level` (a `LOG_LEVEL` value; default WARN, INFO with
/// `verbose`), and with `dir` a log file at INFO or `level` if more verbose.
///
/// # Errors
/// An invalid level.
pub fn spec(level: Option<&str>, verbose: bool, with_file: bool, colored: bool) -> Result<String, String> {
    let terminal = match level {
        Some(l) => level_name(l)?,
        None if verbose => "Info",
        None => "Warn",
    };
    let mut spec = format!("stdout={terminal};is_colored={colored}");
    if with_file {
        let file = if rank(terminal) > rank("Info") { terminal } else { "Info" };
        spec += &format!(";fileout={file}");
    }
    Ok(spec)
}

/// Starts the nautilus logger (see the module docs); `dir` is the command's output folder.
///
/// # Errors
/// An invalid level or `NAUTILUS_LOG` spec, or a logger that is already installed.
pub fn init(level: Option<&str>, verbose: bool, dir: Option<&Path>) -> anyhow::Result<LogGuard> {
    let colored = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let cfg = match std::env::var("NAUTILUS_LOG") {
        Ok(spec) if !spec.trim().is_empty() => LoggerConfig::from_spec(&spec)?,
        _ => LoggerConfig::from_spec(&spec(level, verbose, dir.is_some(), colored).map_err(anyhow::Error::msg)?)?,
    };
    let file = match dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            let stem = LOG_FILE.trim_end_matches(".log").to_string();
            FileWriterConfig::new(Some(d.display().to_string()), Some(stem), None, None)
        }
        None => FileWriterConfig::default(),
    };
    init_logging(Default::default(), Default::default(), cfg, file)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::quiet(None, false, true, "stdout=Warn;is_colored=false;fileout=Info")]
    #[case::verbose(None, true, true, "stdout=Info;is_colored=false;fileout=Info")]
    #[case::debug(Some("debug"), false, true, "stdout=Debug;is_colored=false;fileout=Debug")]
    #[case::error_only(Some("ERROR"), true, true, "stdout=Error;is_colored=false;fileout=Info")]
    #[case::no_file(None, false, false, "stdout=Warn;is_colored=false")]
    fn terminal_quiet_file_complete(
        #[case] level: Option<&str>,
        #[case] verbose: bool,
        #[case] file: bool,
        #[case] want: &str,
    ) {
        assert_eq!(spec(level, verbose, file, false).unwrap(), want);
    }

    #[test]
    fn bad_level_names_the_variable() {
        assert_eq!(
            spec(Some("LOUD"), false, true, false).unwrap_err(),
            "LOG_LEVEL=\"LOUD\" is not one of OFF, ERROR, WARN, WARNING, INFO, DEBUG, TRACE"
        );
    }
}
