//! Capture client for Binance combined streams: record exact frames for a fixed duration.
//!
//! Recordings feed the simulator and the microstructure figures, so a capture keeps each
//! data frame's exact text and local receive time, survives drops and stalls by reconnecting
//! and resubscribing, and records every hole it could not avoid as a [`WsGap`] instead of
//! silently splicing the data together. It stops exactly at the deadline.

use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::{Error, Result};
use crate::stream::Stream;

/// Time allowed for the closing handshake after the deadline.
const CLOSE_GRACE: Duration = Duration::from_millis(250);
/// Reconnect backoff doubles after each failure up to this multiple of the base.
const MAX_BACKOFF_FACTOR: u32 = 8;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, Clone)]
pub struct CaptureConfig {
    /// Base URL without `/stream`, e.g. `wss://stream.binance.com:9443` or `ws://127.0.0.1:PORT`.
    pub url: String,
    pub streams: Vec<Stream>,
    pub duration: Duration,
    /// First wait before reconnecting; doubles on repeated failures (up to 8×).
    pub reconnect_backoff: Duration,
    /// No frame at all for this long ⇒ treat the connection as dead and reconnect.
    pub stall_timeout: Duration,
}

impl CaptureConfig {
    /// Default backoff 500 ms and stall timeout 10 s.
    #[must_use]
    pub fn new(url: impl Into<String>, streams: Vec<Stream>, duration: Duration) -> Self {
        Self {
            url: url.into(),
            streams,
            duration,
            reconnect_backoff: Duration::from_millis(500),
            stall_timeout: Duration::from_secs(10),
        }
    }
}

/// One data frame (`{"stream":..,"data":..}`) as received.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WsFrame {
    /// Local receive time, Unix nanoseconds.
    pub received_at_ns: u64,
    /// Exact frame text.
    pub text: String,
}

/// A stretch without data: from the last frame (or the disconnect) to the next frame.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WsGap {
    pub from_ns: u64,
    pub to_ns: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Capture {
    pub frames: Vec<WsFrame>,
    pub gaps: Vec<WsGap>,
    /// Successful reconnections after the first connection.
    pub reconnects: u32,
    /// Wire names of the subscribed streams.
    pub subscribed: Vec<String>,
}

/// Records `cfg.streams` for `cfg.duration`.
///
/// # Errors
/// [`Error::WebSocket`] if the server rejects the subscription, the URL is unusable, or no
/// connection succeeded before the deadline.
pub async fn capture(cfg: CaptureConfig) -> Result<Capture> {
    let deadline = tokio::time::Instant::now() + cfg.duration;
    let names: Vec<String> = cfg.streams.iter().map(Stream::name).collect();
    let mut s = Session {
        url: format!("{}/stream", cfg.url.trim_end_matches('/')),
        delay: cfg.reconnect_backoff,
        cfg: &cfg,
        conn: None,
        cap: Capture { subscribed: names, ..Capture::default() },
        next_id: 0,
        connected: false,
        last_frame_ns: None,
        gap: None,
        last_error: String::from("deadline reached before the first attempt"),
    };
    // The socket lives outside the timed future, so it can still be closed properly.
    if let Ok(Err(e)) = tokio::time::timeout_at(deadline, s.run()).await {
        return Err(e);
    }
    let end_ns = now_ns();
    if let Some(ws) = s.conn.as_mut() {
        let _ = tokio::time::timeout(CLOSE_GRACE, ws.close(None)).await;
    }
    if !s.connected {
        return Err(s.error(format!("no connection within {:?}: {}", cfg.duration, s.last_error)));
    }
    if let Some((from_ns, reason)) = s.gap.take() {
        s.cap.gaps.push(WsGap { from_ns, to_ns: end_ns, reason: format!("{reason}; no data until the end") });
    }
    log::debug!(
        "{}: captured {} frames, {} gaps, {} reconnects",
        s.url,
        s.cap.frames.len(),
        s.cap.gaps.len(),
        s.cap.reconnects
    );
    Ok(s.cap)
}

struct Session<'a> {
    cfg: &'a CaptureConfig,
    url: String,
    conn: Option<Socket>,
    cap: Capture,
    /// Id of the last SUBSCRIBE sent (1 on the first connection, then 2, 3, ...).
    next_id: u64,
    connected: bool,
    delay: Duration,
    last_frame_ns: Option<u64>,
    /// Start and reason of the gap still open (no data since a disconnect).
    gap: Option<(u64, String)>,
    last_error: String,
}

/// What the connection produced.
enum Event {
    Text(String),
    Lost(String),
    Nothing,
}

/// The envelope fields that tell data frames from subscription replies.
#[derive(serde::Deserialize)]
struct Envelope {
    stream: Option<serde::de::IgnoredAny>,
    data: Option<serde::de::IgnoredAny>,
    id: Option<u64>,
    error: Option<ReplyError>,
}

#[derive(serde::Deserialize)]
struct ReplyError {
    code: i64,
    msg: String,
}

impl Session<'_> {
    /// Runs until cancelled by the deadline; returns only on a fatal error.
    async fn run(&mut self) -> Result<Infallible> {
        loop {
            if self.conn.is_none() {
                if let Err(reason) = self.connect().await? {
                    log::warn!("{}: {reason}; retrying in {:?}", self.url, self.delay);
                    self.last_error = reason;
                    self.backoff().await;
                }
                continue;
            }
            match self.next_event().await {
                Event::Text(text) => self.on_text(text)?,
                Event::Lost(reason) => {
                    self.disconnect(reason);
                    self.backoff().await;
                }
                Event::Nothing => {}
            }
        }
    }

    /// Connects and subscribes; `Ok(Err)` is worth retrying, `Err` is not.
    async fn connect(&mut self) -> Result<std::result::Result<(), String>> {
        let attempt = tokio::time::timeout(self.cfg.stall_timeout, tokio_tungstenite::connect_async(&self.url));
        let mut ws = match attempt.await {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(tungstenite::Error::Url(e))) => {
                return Err(self.error(format!("unusable URL: {e}")));
            }
            Ok(Err(e)) => return Ok(Err(format!("connect: {e}"))),
            Err(_) => {
                return Ok(Err(format!("connect: no handshake within {:?}", self.cfg.stall_timeout)));
            }
        };
        self.next_id += 1;
        let params = serde_json::to_string(&self.cap.subscribed).unwrap_or_default();
        let sub = format!(r#"{{"method":"SUBSCRIBE","params":{params},"id":{}}}"#, self.next_id);
        if let Err(e) = ws.send(Message::text(sub)).await {
            return Ok(Err(format!("subscribe: {e}")));
        }
        log::debug!("{}: subscribed {params} (id {})", self.url, self.next_id);
        if self.connected {
            self.cap.reconnects += 1;
        }
        self.connected = true;
        self.conn = Some(ws);
        Ok(Ok(()))
    }

    async fn next_event(&mut self) -> Event {
        let stall = self.cfg.stall_timeout;
        let Some(ws) = self.conn.as_mut() else {
            return Event::Lost("not connected".into());
        };
        match tokio::time::timeout(stall, ws.next()).await {
            Err(_) => Event::Lost(format!("stall: no frame for {stall:?}")),
            Ok(None) => Event::Lost("connection closed".into()),
            Ok(Some(Err(e))) => Event::Lost(format!("read: {e}")),
            Ok(Some(Ok(Message::Text(t)))) => Event::Text(t.as_str().to_owned()),
            // tungstenite queued the pong; flushing sends it now rather than on the next write.
            Ok(Some(Ok(Message::Ping(_)))) => match ws.flush().await {
                Ok(()) => Event::Nothing,
                Err(e) => Event::Lost(format!("pong: {e}")),
            },
            Ok(Some(Ok(Message::Close(f)))) => {
                Event::Lost(format!("closed by server: {}", f.map_or_else(String::new, |f| f.to_string())))
            }
            Ok(Some(Ok(_))) => Event::Nothing,
        }
    }

    fn on_text(&mut self, text: String) -> Result<()> {
        let at_ns = now_ns();
        match serde_json::from_str::<Envelope>(&text) {
            Ok(Envelope { stream: Some(_), data: Some(_), .. }) => {
                if let Some((from_ns, reason)) = self.gap.take() {
                    self.cap.gaps.push(WsGap { from_ns, to_ns: at_ns, reason });
                }
                self.delay = self.cfg.reconnect_backoff;
                self.last_frame_ns = Some(at_ns);
                self.cap.frames.push(WsFrame { received_at_ns: at_ns, text });
            }
            Ok(Envelope { error: Some(e), .. }) => {
                let streams = self.cap.subscribed.join(", ");
                return Err(self.error(format!("SUBSCRIBE [{streams}] rejected: code {}: {}", e.code, e.msg)));
            }
            Ok(Envelope { id: Some(id), .. }) => {
                log::debug!("{}: reply to request {id}: {text}", self.url)
            }
            _ => log::debug!("{}: ignoring frame {}", self.url, text.chars().take(120).collect::<String>()),
        }
        Ok(())
    }

    fn disconnect(&mut self, reason: String) {
        self.conn = None;
        log::warn!("{}: {reason}; reconnecting in {:?}", self.url, self.delay);
        if self.gap.is_none() {
            self.gap = Some((self.last_frame_ns.unwrap_or_else(now_ns), reason));
        }
    }

    async fn backoff(&mut self) {
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(self.cfg.reconnect_backoff * MAX_BACKOFF_FACTOR);
    }

    fn error(&self, msg: String) -> Error {
        Error::WebSocket { url: self.url.clone(), msg }
    }
}

fn now_ns() -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
