//! WebSocket capture of Binance combined streams: exact frames with their local receive time,
//! reconnects and resubscriptions, and every hole that could not be avoided as a [`WsGap`]
//! instead of data silently spliced together.
//!
//! - [`capture`]: a fixed duration into memory (the snapshot's short capture of one stream).
//! - [`record`]: until told to stop, handing every frame and gap to a bounded channel as it
//!   happens, so memory stays flat however long it runs (`alphalab record`). The streams are
//!   spread over as many connections as Binance's per-connection limit needs.
//!
//! Both run the connection loop of `session` and keep Binance's rules ([`WsLimits`]):
//! SUBSCRIBE messages paced under the per-connection message rate, connection attempts under
//! the per-IP budget (`pacing`), server pings answered, and a connection replaced before
//! Binance's 24-hour cut (that replacement is a reconnect, and so a gap, like any other).

mod pacing;
mod session;

use std::{sync::Arc, time::Duration};

use tokio::sync::{mpsc, watch};

use crate::{
    error::{Error, Result},
    stream::{Stream, WsLimits},
};

use self::{pacing::ConnectionBudget, session::Session};

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

/// What one connection produced, in receive order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    Frame(WsFrame),
    /// Data resumed after a hole (or the recording stopped inside one) on the connection
    /// carrying `streams`: nothing of those streams was received between `from_ns` and `to_ns`.
    Gap {
        gap: WsGap,
        streams: Arc<[String]>,
    },
}

/// How [`record`] connects.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub limits: WsLimits,
    /// First wait before reconnecting; doubles on repeated failures (up to 8×).
    pub reconnect_backoff: Duration,
    /// No frame at all for this long ⇒ treat the connection as dead and reconnect.
    pub stall_timeout: Duration,
    /// A connection is replaced after this long, before Binance cuts it at
    /// [`WsLimits::max_connection_age`] (default: 30 minutes before the cut).
    pub reconnect_after: Duration,
    /// Streams per SUBSCRIBE message (each message counts against the message rate).
    pub streams_per_subscribe: usize,
}

impl RecordOptions {
    /// Binance's limits of `limits`, backoff 500 ms, stall timeout 10 s, 200 streams per
    /// SUBSCRIBE, reconnect 30 minutes before the cut.
    #[must_use]
    pub fn new(limits: WsLimits) -> Self {
        Self {
            limits,
            reconnect_backoff: Duration::from_millis(500),
            stall_timeout: Duration::from_secs(10),
            reconnect_after: limits.max_connection_age.saturating_sub(Duration::from_secs(1800)),
            streams_per_subscribe: 200,
        }
    }
}

/// What [`record`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSummary {
    /// Connections the streams were spread over.
    pub connections: usize,
    /// Successful reconnections over all connections (scheduled ones included).
    pub reconnects: u32,
    /// Data frames handed to the channel.
    pub frames: u64,
}

/// Records `cfg.streams` for `cfg.duration`.
///
/// # Errors
/// [`Error::WebSocket`] if the server rejects the subscription, the URL is unusable, or no
/// connection succeeded before the deadline.
pub async fn capture(cfg: CaptureConfig) -> Result<Capture> {
    let names: Arc<[String]> = cfg.streams.iter().map(Stream::name).collect();
    let opts = RecordOptions {
        reconnect_backoff: cfg.reconnect_backoff,
        stall_timeout: cfg.stall_timeout,
        // One connection, one SUBSCRIBE, no pacing, no scheduled reconnect: a capture is short.
        streams_per_subscribe: names.len().max(1),
        reconnect_after: Duration::MAX,
        limits: WsLimits {
            max_streams_per_connection: usize::MAX,
            messages_per_second: u32::MAX,
            connections_per_window: u32::MAX,
            max_connection_age: Duration::MAX,
        },
    };
    let (tx, mut rx) = mpsc::channel(1024);
    let (stop_tx, stop_rx) = watch::channel(false);
    let budget = Arc::new(ConnectionBudget::new(&opts.limits));
    let session = Session::new(&cfg.url, Arc::clone(&names), opts, tx, budget);
    let collect = async {
        let mut cap = Capture { subscribed: names.to_vec(), ..Capture::default() };
        while let Some(ev) = rx.recv().await {
            match ev {
                WsEvent::Frame(f) => cap.frames.push(f),
                WsEvent::Gap { gap, .. } => cap.gaps.push(gap),
            }
        }
        cap
    };
    let run = async {
        let run = session.run(stop_rx);
        tokio::pin!(run);
        tokio::select! {
            out = &mut run => out,
            () = tokio::time::sleep(cfg.duration) => {
                let _ = stop_tx.send(true);
                run.await
            }
        }
    };
    let (outcome, mut cap) = tokio::join!(run, collect);
    let done = outcome?;
    if done.connections == 0 {
        return Err(Error::WebSocket {
            url: done.url,
            msg: format!("no connection within {:?}: {}", cfg.duration, done.last_error),
        });
    }
    cap.reconnects = done.reconnects;
    log::debug!(
        "{}: captured {} frames, {} gaps, {} reconnects",
        done.url,
        cap.frames.len(),
        cap.gaps.len(),
        cap.reconnects
    );
    Ok(cap)
}

/// Records `streams` from `url` (base without `/stream`) until `stop` turns true, sending every
/// frame and gap to `tx` in receive order per connection. The streams are split over
/// connections of at most `opts.limits.max_streams_per_connection`; every connection attempt
/// goes through one budget of `opts.limits.connections_per_window` per 5 minutes. At the stop,
/// each connection is closed and a hole still open is sent as a gap ending then.
///
/// # Errors
/// [`Error::WebSocket`] if a subscription is rejected or the URL is unusable (every other
/// connection is then stopped too), or if a connection never connected before the stop.
pub async fn record(
    url: &str,
    streams: &[Stream],
    opts: RecordOptions,
    tx: mpsc::Sender<WsEvent>,
    stop: watch::Receiver<bool>,
) -> Result<RecordSummary> {
    let names: Vec<String> = streams.iter().map(Stream::name).collect();
    let budget = Arc::new(ConnectionBudget::new(&opts.limits));
    let per_connection = opts.limits.max_streams_per_connection.max(1);
    // A fatal error on one connection stops the others.
    let (abort_tx, abort_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in names.chunks(per_connection) {
        let session = Session::new(url, chunk.iter().cloned().collect(), opts.clone(), tx.clone(), Arc::clone(&budget));
        let (mut stop, mut abort) = (stop.clone(), abort_rx.clone());
        let (own_tx, own_rx) = watch::channel(false);
        tasks.spawn(async move {
            let run = session.run(own_rx);
            tokio::pin!(run);
            tokio::select! {
                out = &mut run => out,
                () = async {
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => {}
                        _ = abort.wait_for(|s| *s) => {}
                    }
                } => {
                    let _ = own_tx.send(true);
                    run.await
                }
            }
        });
    }
    drop(tx);
    let mut summary = RecordSummary { connections: tasks.len(), ..RecordSummary::default() };
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.map_err(|e| Error::WebSocket { url: url.to_string(), msg: format!("task: {e}") })?;
        match outcome {
            Ok(done) if done.connections == 0 => {
                let msg = format!("no connection before the stop: {}", done.last_error);
                first_error.get_or_insert(Error::WebSocket { url: done.url, msg });
            }
            Ok(done) => {
                summary.reconnects += done.reconnects;
                summary.frames += done.frames;
            }
            Err(e) => {
                let _ = abort_tx.send(true);
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}
