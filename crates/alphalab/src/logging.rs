//! NautilusTrader's logger as the one logging stack.
//!
//! The CLI initialises it once and holds the guard for the whole process: engines created later
//! reuse it, and dropping an engine's own guard then never shuts logging down
//! (see shared/docs/nautilus-0.57.md §10).

pub use nautilus_common::logging::logger::LogGuard;
use nautilus_common::logging::{init_logging, logger::LoggerConfig, writer::FileWriterConfig};

/// Log levels accepted by `LOG_LEVEL` / `--log-level`.
pub const LEVELS: &[&str] = &["OFF", "ERROR", "WARN", "WARNING", "INFO", "DEBUG", "TRACE"];

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

/// Starts the nautilus logger on stdout at `level` (`NAUTILUS_LOG`, if set, wins: it is the
/// nautilus-native spec and allows per-component levels).
///
/// # Errors
/// An invalid level or spec, or a logger that is already installed.
pub fn init(level: &str) -> anyhow::Result<LogGuard> {
    let cfg = match std::env::var("NAUTILUS_LOG") {
        Ok(spec) if !spec.trim().is_empty() => LoggerConfig::from_spec(&spec)?,
        _ => {
            let lvl = level_name(level).map_err(anyhow::Error::msg)?;
            let colored = std::io::IsTerminal::is_terminal(&std::io::stdout());
            LoggerConfig::from_spec(&format!("stdout={lvl};is_colored={colored}"))?
        }
    };
    init_logging(Default::default(), Default::default(), cfg, FileWriterConfig::default())
}
