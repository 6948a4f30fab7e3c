//! REST client that keeps Binance's exact wire bytes and stays inside the weight budget.
//!
//! Snapshots and the simulator's conformance tests compare bodies byte for byte, so nothing
//! here decodes into types: a 2xx body is only checked to be JSON, then returned as `Bytes`
//! together with what a manifest needs (URL, weight, used-weight header, timing, attempts).
//! Every request is pre-charged on the market's shared [`Limiter`]; the server's 429/418
//! answers feed back into it, so all clients behind one IP slow down or stop together.
//! `USER_DATA` endpoints go the same way through [`RestClient::get_signed`], which adds the
//! timestamp and the HMAC signature ([`crate::sign`]) to every attempt.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};

use crate::endpoint::{self, Endpoint, Market};
use crate::error::{Error, Result};
use crate::limiter::{Limiter, LimiterConfig};
use crate::sign;

/// Consecutive 429s honoured before giving up; they do not use the `max_retries` budget.
const MAX_THROTTLES: u32 = 5;
/// Pause after a 429 that carries no `Retry-After` (one full weight window).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Upper bound of the exponential backoff between failed attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Longest body excerpt quoted in an error message.
const BODY_EXCERPT: usize = 512;
const USED_WEIGHT_HEADER: &str = "x-mbx-used-weight-1m";

#[derive(Clone)]
pub struct RestConfig {
    pub spot_url: String,
    pub usdm_url: String,
    /// Per attempt, connect to last body byte.
    pub timeout: Duration,
    /// Retries after 5xx, timeouts, transport errors and malformed 2xx bodies.
    pub max_retries: u32,
    /// Base of the exponential backoff (with jitter, capped at 30 s).
    pub backoff: Duration,
    /// Cap on an honoured 429 `Retry-After`.
    pub max_retry_after: Duration,
    /// Sent as `X-MBX-APIKEY` only; redacted from `Debug` and never logged.
    pub api_key: Option<String>,
    /// Signs `USER_DATA` requests ([`RestClient::get_signed`]); never sent, logged or shown
    /// (redacted from `Debug`).
    pub api_secret: Option<String>,
}

impl Default for RestConfig {
    fn default() -> Self {
        Self {
            spot_url: Market::Spot.prod_rest_url().to_string(),
            usdm_url: Market::UsdM.prod_rest_url().to_string(),
            timeout: Duration::from_secs(10),
            max_retries: 3,
            backoff: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(120),
            api_key: None,
            api_secret: None,
        }
    }
}

impl fmt::Debug for RestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestConfig")
            .field("spot_url", &self.spot_url)
            .field("usdm_url", &self.usdm_url)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("backoff", &self.backoff)
            .field("max_retry_after", &self.max_retry_after)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_secret", &self.api_secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// One successful response, as received.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub endpoint: &'static Endpoint,
    /// Base + path + query; never contains secrets. For a signed request, the query as given
    /// (without `timestamp`, `recvWindow` and `signature`, which change with every attempt).
    pub url: String,
    pub params: Vec<(String, String)>,
    pub status: u16,
    /// Exact wire bytes.
    pub body: Bytes,
    /// `X-MBX-USED-WEIGHT-1M` of this response.
    pub used_weight: Option<u32>,
    /// Weight charged per attempt, from the endpoint table.
    pub weight: u32,
    /// Duration of the successful attempt.
    pub latency: Duration,
    /// From the call to the answer, including limiter waits and retries.
    pub elapsed: Duration,
    pub attempts: u32,
    pub retrieved_at: SystemTime,
}

/// Cheap to clone; clones share the HTTP connection pool and the limiters.
#[derive(Debug, Clone)]
pub struct RestClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cfg: RestConfig,
    /// Marked sensitive, so even reqwest's own debug output hides it.
    api_key: Option<HeaderValue>,
    http: reqwest::Client,
    spot: Limiter,
    usdm: Limiter,
    /// Server time minus local time per market (spot, USD-M), ms, once measured for signing.
    time_offsets: Mutex<[Option<i64>; 2]>,
}

/// One `get` call's fixed facts, and the errors naming them.
struct Call {
    ep: &'static Endpoint,
    id: String,
    symbol: Option<String>,
    /// Base + path.
    base: String,
    /// The encoded parameters, without `?`.
    query: String,
    /// Base + path + `?` + query (no query: no `?`).
    url: String,
    weight: u32,
}

/// What a signed request signs with: the secret, and the server clock's lead on ours.
#[derive(Clone, Copy)]
struct Signer<'a> {
    secret: &'a [u8],
    offset_ms: i64,
}

impl Signer<'_> {
    /// `timestamp` for an attempt made now, on the server's clock.
    fn timestamp_ms(&self) -> u64 {
        u64::try_from(unix_ms() + self.offset_ms).unwrap_or(0)
    }
}

/// What one attempt amounts to.
enum Outcome {
    Done {
        status: u16,
        body: Bytes,
        used: Option<u32>,
    },
    /// 429: wait this long on the limiter, then try again.
    Throttled(Error, Duration),
    /// Transient: back off and try again while the retry budget lasts.
    Retry(Error),
    Fail(Error),
}

impl RestClient {
    /// A client with its own limiters (default budgets).
    ///
    /// # Errors
    /// [`Error::Config`] if the HTTP client cannot be built or the api key is not a header value.
    pub fn new(cfg: RestConfig) -> Result<Self> {
        let spot = Limiter::new(Market::Spot, LimiterConfig::default());
        let usdm = Limiter::new(Market::UsdM, LimiterConfig::default());
        Self::with_limiters(cfg, spot, usdm)
    }

    /// A client sharing existing limiters (one per market, e.g. with other clients of this IP).
    ///
    /// # Errors
    /// As [`RestClient::new`], and if a limiter belongs to the other market.
    pub fn with_limiters(cfg: RestConfig, spot: Limiter, usdm: Limiter) -> Result<Self> {
        if spot.market() != Market::Spot || usdm.market() != Market::UsdM {
            return Err(Error::Config(format!(
                "limiters given for ({}, {}), expected (spot, usdm)",
                spot.market(),
                usdm.market()
            )));
        }
        let api_key = match &cfg.api_key {
            Some(key) => {
                let mut v = HeaderValue::from_str(key)
                    .map_err(|_| Error::Config("api_key is not a valid HTTP header value".into()))?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let http = reqwest::Client::builder()
            .user_agent(concat!("alphalab/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(Self { inner: Arc::new(Inner { cfg, api_key, http, spot, usdm, time_offsets: Mutex::new([None; 2]) }) })
    }

    #[must_use]
    pub fn limiter(&self, m: Market) -> &Limiter {
        match m {
            Market::Spot => &self.inner.spot,
            Market::UsdM => &self.inner.usdm,
        }
    }

    #[must_use]
    pub fn base_url(&self, m: Market) -> &str {
        let url = match m {
            Market::Spot => &self.inner.cfg.spot_url,
            Market::UsdM => &self.inner.cfg.usdm_url,
        };
        url.trim_end_matches('/')
    }

    /// GETs `ep` with `params` in the given order, within the budget.
    ///
    /// Every attempt is charged on the limiter. 2xx with a JSON body: done. 429: pause the
    /// market for `Retry-After` (capped), up to 5 times. 418: ban the market, fail at once.
    /// 5xx, timeout, transport error, malformed 2xx body: back off and retry up to
    /// `max_retries` times. Any other status: fail at once.
    ///
    /// # Errors
    /// [`Error::Banned`] (418, or the market was banned before), [`Error::Api`] /
    /// [`Error::Status`] (4xx, or 5xx/429 after the retries), [`Error::Timeout`],
    /// [`Error::Transport`], [`Error::Decode`] after the retries, [`Error::InvalidRequest`]
    /// for a non-numeric `limit`.
    pub async fn get(&self, ep: &'static Endpoint, params: &[(&str, String)]) -> Result<RawResponse> {
        self.run(ep, params, None).await
    }

    /// GETs the `USER_DATA` endpoint `ep`, signed: `params`, then `timestamp` (on the server's
    /// clock) and `recvWindow=5000`, then `signature` over exactly that query, with the API key
    /// in `X-MBX-APIKEY`. Goes through the same limiter, weights, 429/418 and retry path as
    /// [`RestClient::get`]; every attempt is signed afresh. The server's clock is measured once
    /// per market (`time`, weight 1) and measured again once if Binance answers -1021
    /// (timestamp outside the receive window).
    ///
    /// # Errors
    /// [`Error::MissingCredentials`], before any request, without an API key and secret;
    /// otherwise as [`RestClient::get`] (a wrong key or signature is [`Error::Api`] with
    /// Binance's -2015 / -1022).
    pub async fn get_signed(&self, ep: &'static Endpoint, params: &[(&str, String)]) -> Result<RawResponse> {
        let cfg = &self.inner.cfg;
        let secret = match (cfg.api_key.as_deref(), cfg.api_secret.as_deref()) {
            (Some(k), Some(s)) if !k.is_empty() && !s.is_empty() => s.as_bytes(),
            _ => return Err(Error::MissingCredentials { endpoint: ep.id(), path: ep.path }),
        };
        let mut offset_ms = self.server_offset(ep.market, false).await?;
        let mut remeasured = false;
        loop {
            match self.run(ep, params, Some(Signer { secret, offset_ms })).await {
                Err(Error::Api { code: -1021, .. }) if !remeasured => {
                    remeasured = true;
                    log::warn!("{}: timestamp outside recvWindow; measuring the server time again", ep.id());
                    offset_ms = self.server_offset(ep.market, true).await?;
                }
                other => return other,
            }
        }
    }

    /// Server time minus local time on `market`, ms: cached, or measured with `time` (the
    /// midpoint of the request stands for the server's stamp).
    async fn server_offset(&self, market: Market, remeasure: bool) -> Result<i64> {
        let slot = usize::from(market == Market::UsdM);
        let cached = self.inner.time_offsets.lock().expect("offsets mutex")[slot];
        if !remeasure && let Some(o) = cached {
            return Ok(o);
        }
        #[derive(serde::Deserialize)]
        struct ServerTime {
            #[serde(rename = "serverTime")]
            server_time: i64,
        }
        let ep = endpoint::find(market, "time").expect("time is a row of the endpoint table");
        let before = unix_ms();
        let r = self.get(ep, &[]).await?;
        let after = unix_ms();
        let t: ServerTime = serde_json::from_slice(&r.body).map_err(|source| Error::Decode {
            endpoint: ep.id(),
            symbol: None,
            len: r.body.len(),
            source,
        })?;
        let offset = t.server_time - (before + after) / 2;
        log::debug!("{market}: server clock {offset:+} ms from ours");
        self.inner.time_offsets.lock().expect("offsets mutex")[slot] = Some(offset);
        Ok(offset)
    }

    /// The attempt loop of [`RestClient::get`] and [`RestClient::get_signed`].
    async fn run(
        &self,
        ep: &'static Endpoint,
        params: &[(&str, String)],
        signer: Option<Signer<'_>>,
    ) -> Result<RawResponse> {
        let call = self.call(ep, params)?;
        let limiter = self.limiter(ep.market);
        let cfg = &self.inner.cfg;
        let started = Instant::now();
        let (mut attempts, mut failures, mut throttles) = (0u32, 0u32, 0u32);
        loop {
            limiter.acquire(call.weight, ep.bucket).await?;
            attempts += 1;
            let t0 = Instant::now();
            match self.attempt(&call, limiter, signer).await {
                Outcome::Done { status, body, used } => {
                    return Ok(RawResponse {
                        endpoint: ep,
                        url: call.url,
                        params: params.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect(),
                        status,
                        body,
                        used_weight: used,
                        weight: call.weight,
                        latency: t0.elapsed(),
                        elapsed: started.elapsed(),
                        attempts,
                        retrieved_at: SystemTime::now(),
                    });
                }
                Outcome::Fail(e) => return Err(e),
                Outcome::Throttled(e, pause) => {
                    throttles += 1;
                    if throttles > MAX_THROTTLES {
                        return Err(e);
                    }
                    log::warn!("{e}; pausing {} for {pause:?} (429 #{throttles})", ep.market);
                    limiter.pause_for(pause);
                }
                Outcome::Retry(e) => {
                    failures += 1;
                    if failures > cfg.max_retries {
                        return Err(e);
                    }
                    let d = backoff(cfg.backoff, failures);
                    log::warn!("{e}; retry {failures}/{} in {d:?}", cfg.max_retries);
                    tokio::time::sleep(d).await;
                }
            }
        }
    }

    fn call(&self, ep: &'static Endpoint, params: &[(&str, String)]) -> Result<Call> {
        let value = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str());
        let limit = match value("limit") {
            Some(v) => Some(v.parse::<u32>().map_err(|_| Error::InvalidRequest {
                endpoint: ep.id(),
                msg: format!("limit must be a non-negative integer, got {v:?}"),
            })?),
            None => None,
        };
        let symbol = value("symbol").filter(|s| !s.is_empty()).map(str::to_string);
        let weight = ep.weight_for(limit, symbol.is_some());
        let base = format!("{}{}", self.base_url(ep.market), ep.path);
        let query = encode_pairs(params);
        let url = if query.is_empty() { base.clone() } else { format!("{base}?{query}") };
        Ok(Call { ep, id: ep.id(), symbol, base, query, url, weight })
    }

    async fn attempt(&self, call: &Call, limiter: &Limiter, signer: Option<Signer<'_>>) -> Outcome {
        let cfg = &self.inner.cfg;
        let mut rb = match signer {
            Some(s) => {
                let url = format!("{}?{}", call.base, sign::signed_query(&call.query, s.secret, s.timestamp_ms()));
                self.inner.http.get(url)
            }
            None => self.inner.http.get(&call.url),
        };
        if let Some(key) = &self.inner.api_key {
            rb = rb.header("X-MBX-APIKEY", key.clone());
        }
        let exchange = async {
            let resp = rb.send().await?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            Ok::<_, reqwest::Error>((status, headers, resp.bytes().await?))
        };
        let (status, headers, body) = match tokio::time::timeout(cfg.timeout, exchange).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) if e.is_timeout() => return Outcome::Retry(call.timeout(cfg.timeout)),
            Ok(Err(e)) => return Outcome::Retry(call.transport(e)),
            Err(_) => return Outcome::Retry(call.timeout(cfg.timeout)),
        };
        let used = header_u32(&headers, USED_WEIGHT_HEADER);
        if let Some(u) = used {
            limiter.observe_used_weight(u);
        }
        log::debug!("GET {} -> {status}, {} B, used weight {used:?}", call.url, body.len());
        match status {
            200..=299 => match serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
                Ok(_) => Outcome::Done { status, body, used },
                Err(e) => Outcome::Retry(call.decode(body.len(), e)),
            },
            429 => {
                let pause = retry_after(&headers).unwrap_or(DEFAULT_RETRY_AFTER);
                Outcome::Throttled(call.status(status, &body), pause.min(cfg.max_retry_after))
            }
            418 => {
                let secs = retry_after(&headers).map_or(0, |d| d.as_secs());
                limiter.ban(Duration::from_secs(secs));
                Outcome::Fail(Error::Banned { market: call.ep.market, retry_after_secs: secs })
            }
            500..=599 => Outcome::Retry(call.status(status, &body)),
            _ => Outcome::Fail(call.status(status, &body)),
        }
    }
}

impl Call {
    /// `Api` when the body is Binance's `{"code","msg"}`, else `Status` with a body excerpt.
    fn status(&self, status: u16, body: &[u8]) -> Error {
        #[derive(serde::Deserialize)]
        struct ApiBody {
            code: i64,
            msg: String,
        }
        match serde_json::from_slice::<ApiBody>(body) {
            Ok(b) => {
                Error::Api { endpoint: self.id.clone(), symbol: self.symbol.clone(), status, code: b.code, msg: b.msg }
            }
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let body = text.chars().take(BODY_EXCERPT).collect();
                Error::Status { endpoint: self.id.clone(), symbol: self.symbol.clone(), status, body }
            }
        }
    }

    fn timeout(&self, after: Duration) -> Error {
        Error::Timeout { endpoint: self.id.clone(), symbol: self.symbol.clone(), secs: after.as_secs_f64() }
    }

    fn transport(&self, source: reqwest::Error) -> Error {
        // reqwest puts the URL in its message; ours has no secrets, but keep messages short.
        Error::Transport { endpoint: self.id.clone(), symbol: self.symbol.clone(), source: source.without_url() }
    }

    fn decode(&self, len: usize, source: serde_json::Error) -> Error {
        Error::Decode { endpoint: self.id.clone(), symbol: self.symbol.clone(), len, source }
    }
}

/// Exponential in the attempt number, capped, with jitter in [50 %, 100 %] so that clients
/// failing together do not retry together.
fn backoff(base: Duration, failures: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let capped = exp.min(MAX_BACKOFF).max(base);
    capped.mul_f64(rand::random_range(0.5..=1.0))
}

fn header_u32(headers: &HeaderMap, name: &str) -> Option<u32> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `Retry-After` in seconds (Binance never sends the HTTP-date form).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_u32(headers, "retry-after").map(|s| Duration::from_secs(u64::from(s)))
}

/// Local wall-clock ms since the epoch.
fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `k=v&...` in the given order, percent-encoding all but RFC 3986 unreserved bytes.
fn encode_pairs(params: &[(&str, String)]) -> String {
    fn encode(out: &mut String, s: &str) {
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    let mut q = String::new();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            q.push('&');
        }
        encode(&mut q, k);
        q.push('=');
        encode(&mut q, v);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_order_and_encodes() {
        let q = encode_pairs(&[("symbol", "BTCUSDT".into()), ("symbols", r#"["A","B"]"#.into())]);
        assert_eq!(q, "symbol=BTCUSDT&symbols=%5B%22A%22%2C%22B%22%5D");
        assert_eq!(encode_pairs(&[]), "");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        for n in 1..=3 {
            let d = backoff(base, n);
            let full = base * (1 << (n - 1));
            assert!(d >= full / 2 && d <= full, "{n}: {d:?}");
        }
        assert!(backoff(base, 40) <= MAX_BACKOFF);
    }
}
