//! One WebSocket connection's life: connect (within the connection budget), SUBSCRIBE (paced
//! under the message rate), read exact frames, answer pings, detect stalls, replace the
//! connection before Binance's 24-hour cut, reconnect with backoff, and report each hole as a
//! [`WsGap`] when data resumes (or at the stop).

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use futures::{SinkExt, StreamExt};
use tokio::{
    net::TcpStream,
    sync::{mpsc, watch},
    time::Instant,
};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message},
};

use super::{
    RecordOptions, WsEvent, WsFrame, WsGap,
    pacing::{ConnectionBudget, Pacer},
};
use crate::error::{Error, Result};

/// Time allowed for the closing handshake at the stop.
const CLOSE_GRACE: Duration = Duration::from_millis(250);
/// Reconnect backoff doubles after each failure up to this multiple of the base.
const MAX_BACKOFF_FACTOR: u32 = 8;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a session ended (errors aside).
#[derive(Debug)]
pub(super) struct Done {
    /// `<base>/stream`.
    pub url: String,
    /// Successful connections, the first included.
    pub connections: u32,
    /// Successful connections after the first.
    pub reconnects: u32,
    pub frames: u64,
    /// Why the last attempt failed (for "no connection" errors).
    pub last_error: String,
}

pub(super) struct Session {
    url: String,
    names: Arc<[String]>,
    opts: RecordOptions,
    sink: mpsc::Sender<WsEvent>,
    budget: Arc<ConnectionBudget>,
    conn: Option<Socket>,
    connected_at: Instant,
    /// Id of the last SUBSCRIBE sent (1 on the first connection, then 2, 3, ...).
    next_id: u64,
    connections: u32,
    frames: u64,
    delay: Duration,
    last_frame_ns: Option<u64>,
    /// Start and reason of the hole still open (no data since a disconnect).
    gap: Option<(u64, String)>,
    last_error: String,
}

/// What the connection produced.
enum Event {
    Text(String),
    Lost(String),
    /// The connection reached `reconnect_after`: replace it now, without backoff.
    Age,
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

impl Session {
    pub(super) fn new(
        base: &str,
        names: Arc<[String]>,
        opts: RecordOptions,
        sink: mpsc::Sender<WsEvent>,
        budget: Arc<ConnectionBudget>,
    ) -> Self {
        Self {
            url: format!("{}/stream", base.trim_end_matches('/')),
            names,
            delay: opts.reconnect_backoff,
            opts,
            sink,
            budget,
            conn: None,
            connected_at: Instant::now(),
            next_id: 0,
            connections: 0,
            frames: 0,
            last_frame_ns: None,
            gap: None,
            last_error: String::from("stopped before the first attempt"),
        }
    }

    /// Runs until `stop` turns true (or its sender is gone), then closes the connection and
    /// sends the hole still open, if any, as a gap ending now.
    ///
    /// # Errors
    /// [`Error::WebSocket`] for a rejected subscription or an unusable URL.
    pub(super) async fn run(mut self, mut stop: watch::Receiver<bool>) -> Result<Done> {
        let outcome = {
            let work = self.work();
            tokio::pin!(work);
            tokio::select! {
                e = &mut work => Some(e),
                _ = stop.wait_for(|s| *s) => None,
            }
        };
        if let Some(Err(e)) = outcome {
            return Err(e);
        }
        let end_ns = now_ns();
        if let Some(ws) = self.conn.as_mut() {
            let _ = tokio::time::timeout(CLOSE_GRACE, ws.close(None)).await;
        }
        if self.connections > 0
            && let Some((from_ns, reason)) = self.gap.take()
        {
            let gap = WsGap { from_ns, to_ns: end_ns, reason: format!("{reason}; no data until the end") };
            let _ = self.sink.send(WsEvent::Gap { gap, streams: Arc::clone(&self.names) }).await;
        }
        log::debug!(
            "{}: {} frames, {} connections, gap open at the end: {}",
            self.url,
            self.frames,
            self.connections,
            self.gap.is_some()
        );
        Ok(Done {
            url: self.url,
            connections: self.connections,
            reconnects: self.connections.saturating_sub(1),
            frames: self.frames,
            last_error: self.last_error,
        })
    }

    /// The connection loop; returns only on a fatal error (or when the receiver is gone).
    async fn work(&mut self) -> Result<()> {
        loop {
            if self.conn.is_none() {
                self.budget.acquire().await;
                if let Err(reason) = self.connect().await? {
                    log::warn!("{}: {reason}; retrying in {:?}", self.url, self.delay);
                    self.last_error = reason;
                    self.backoff().await;
                }
                continue;
            }
            match self.next_event().await {
                Event::Text(text) => {
                    if !self.on_text(text).await? {
                        return Ok(());
                    }
                }
                Event::Lost(reason) => {
                    self.disconnect(reason);
                    self.backoff().await;
                }
                Event::Age => {
                    let reason = format!(
                        "scheduled reconnect: connection open for {:?}, Binance cuts at {:?}",
                        self.opts.reconnect_after, self.opts.limits.max_connection_age
                    );
                    if let Some(mut ws) = self.conn.take() {
                        let _ = tokio::time::timeout(CLOSE_GRACE, ws.close(None)).await;
                    }
                    self.disconnect(reason);
                }
                Event::Nothing => {}
            }
        }
    }

    /// Connects and subscribes; `Ok(Err)` is worth retrying, `Err` is not.
    async fn connect(&mut self) -> Result<std::result::Result<(), String>> {
        let stall = self.opts.stall_timeout;
        let mut ws = match tokio::time::timeout(stall, tokio_tungstenite::connect_async(&self.url)).await {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(tungstenite::Error::Url(e))) => return Err(self.error(format!("unusable URL: {e}"))),
            Ok(Err(e)) => return Ok(Err(format!("connect: {e}"))),
            Err(_) => return Ok(Err(format!("connect: no handshake within {stall:?}"))),
        };
        let mut pacer = Pacer::new(self.opts.limits.messages_per_second);
        for chunk in self.names.chunks(self.opts.streams_per_subscribe.max(1)) {
            self.next_id += 1;
            let params = serde_json::to_string(chunk).unwrap_or_default();
            let sub = format!(r#"{{"method":"SUBSCRIBE","params":{params},"id":{}}}"#, self.next_id);
            pacer.wait().await;
            if let Err(e) = ws.send(Message::text(sub)).await {
                return Ok(Err(format!("subscribe: {e}")));
            }
            log::debug!("{}: subscribed {params} (id {})", self.url, self.next_id);
        }
        self.connections += 1;
        self.connected_at = Instant::now();
        self.conn = Some(ws);
        Ok(Ok(()))
    }

    async fn next_event(&mut self) -> Event {
        let stall = self.opts.stall_timeout;
        let age_left = self.opts.reconnect_after.saturating_sub(self.connected_at.elapsed());
        let Some(ws) = self.conn.as_mut() else {
            return Event::Lost("not connected".into());
        };
        match tokio::time::timeout(stall.min(age_left), ws.next()).await {
            Err(_) if age_left <= stall => Event::Age,
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

    /// Handles one text frame; `Ok(false)` when the receiver is gone (nothing left to do).
    async fn on_text(&mut self, text: String) -> Result<bool> {
        let at_ns = now_ns();
        match serde_json::from_str::<Envelope>(&text) {
            Ok(Envelope { stream: Some(_), data: Some(_), .. }) => {
                if let Some((from_ns, reason)) = self.gap.take() {
                    let gap = WsGap { from_ns, to_ns: at_ns, reason };
                    if self.sink.send(WsEvent::Gap { gap, streams: Arc::clone(&self.names) }).await.is_err() {
                        return Ok(false);
                    }
                }
                self.delay = self.opts.reconnect_backoff;
                self.last_frame_ns = Some(at_ns);
                self.frames += 1;
                let frame = WsFrame { received_at_ns: at_ns, text };
                return Ok(self.sink.send(WsEvent::Frame(frame)).await.is_ok());
            }
            Ok(Envelope { error: Some(e), .. }) => {
                let streams = self.names.join(", ");
                return Err(self.error(format!("SUBSCRIBE [{streams}] rejected: code {}: {}", e.code, e.msg)));
            }
            Ok(Envelope { id: Some(id), .. }) => log::debug!("{}: reply to request {id}: {text}", self.url),
            _ => log::debug!("{}: ignoring frame {}", self.url, text.chars().take(120).collect::<String>()),
        }
        Ok(true)
    }

    fn disconnect(&mut self, reason: String) {
        self.conn = None;
        log::warn!("{}: {reason}; reconnecting", self.url);
        if self.gap.is_none() {
            self.gap = Some((self.last_frame_ns.unwrap_or_else(now_ns), reason));
        }
    }

    async fn backoff(&mut self) {
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(self.opts.reconnect_backoff * MAX_BACKOFF_FACTOR);
    }

    fn error(&self, msg: String) -> Error {
        Error::WebSocket { url: self.url.clone(), msg }
    }
}

/// The wall clock in Unix nanoseconds: the receive time of every frame.
pub(crate) fn now_ns() -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
