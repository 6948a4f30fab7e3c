//! `alphalab brackets`: the account's USD-M notional and leverage brackets
//! (`GET /fapi/v1/leverageBracket`, `USER_DATA`, signed with `API_KEY` / `API_SECRET`), written
//! as received to one file that a backtest reads (`venue.brackets`, through
//! `binance::brackets::parse`).

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use binance::{
    brackets,
    rest::{RestClient, RestConfig},
};
use data::raw::write_atomic;

use crate::settings::BracketsConfig;

/// What was fetched and written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub out: PathBuf,
    /// Tiers per symbol.
    pub tiers: BTreeMap<String, usize>,
    pub bytes: usize,
}

/// Fetches the brackets and writes the exact response to `cfg.out` atomically (temporary file
/// and rename: a failed run leaves the previous file whole).
///
/// # Errors
/// Missing key or secret (before any request), Binance's refusal (code and message, naming
/// the endpoint), a response that does not parse as brackets (nothing is written), or the
/// write.
pub async fn run(cfg: &BracketsConfig) -> anyhow::Result<Fetched> {
    let client = RestClient::new(RestConfig {
        usdm_url: cfg.base_path_futures.clone(),
        timeout: Duration::from_secs_f64(cfg.timeout_secs),
        max_retries: cfg.max_retries,
        api_key: cfg.api_key.as_ref().map(|s| s.0.clone()),
        api_secret: cfg.api_secret.as_ref().map(|s| s.0.clone()),
        ..RestConfig::default()
    })?;
    let (r, parsed) = brackets::fetch(&client, cfg.symbol.as_deref()).await?;
    write_atomic(&cfg.out, &r.body)?;
    let tiers = parsed.iter().map(|(s, b)| (s.clone(), b.0.len())).collect();
    let fetched = Fetched { out: cfg.out.clone(), tiers, bytes: r.body.len() };
    log::info!(
        "{}: {} B from {}, {} symbols, {} tiers, used weight {} → {}",
        r.endpoint.id(),
        fetched.bytes,
        r.url,
        fetched.tiers.len(),
        fetched.tiers.values().sum::<usize>(),
        r.used_weight.map_or_else(|| "unknown".to_string(), |u| u.to_string()),
        fetched.out.display()
    );
    Ok(fetched)
}

/// The one summary line: symbols, tiers (per symbol when there are few), the file.
#[must_use]
pub fn summary(f: &Fetched) -> String {
    let total: usize = f.tiers.values().sum();
    let each = if (1..=4).contains(&f.tiers.len()) {
        let list: Vec<String> = f.tiers.iter().map(|(s, n)| format!("{s} {n}")).collect();
        format!(" ({})", list.join(", "))
    } else {
        String::new()
    };
    format!("brackets: {} symbols, {total} tiers{each} → {}", f.tiers.len(), f.out.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_few_symbols_only() {
        let mut f = Fetched {
            out: "outputs/futures/leverage_brackets.json".into(),
            tiers: BTreeMap::from([("BTCUSDT".into(), 12), ("ETHUSDT".into(), 11)]),
            bytes: 10,
        };
        assert_eq!(
            summary(&f),
            "brackets: 2 symbols, 23 tiers (BTCUSDT 12, ETHUSDT 11) → outputs/futures/leverage_brackets.json"
        );
        f.tiers.extend((0..3).map(|i| (format!("S{i}"), 1)));
        assert_eq!(summary(&f), "brackets: 5 symbols, 26 tiers → outputs/futures/leverage_brackets.json");
    }
}
