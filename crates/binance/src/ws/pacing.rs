//! Binance's WebSocket rate rules as two small gates: [`Pacer`] spaces the messages one
//! connection sends (SUBSCRIBE) under the per-connection message rate, keeping one message a
//! second free for the pongs tungstenite sends on its own; [`ConnectionBudget`] admits at most
//! N connection attempts per 5-minute window for every connection of one recorder.

use std::{collections::VecDeque, sync::Mutex, time::Duration};

use tokio::time::Instant;

use crate::stream::WsLimits;

/// Spaces one connection's outgoing messages.
#[derive(Debug)]
pub(super) struct Pacer {
    interval: Duration,
    next: Option<Instant>,
}

impl Pacer {
    /// At most `per_second − 1` messages a second (one left for pongs); `u32::MAX`: no pacing.
    pub(super) fn new(per_second: u32) -> Self {
        let interval = match per_second {
            u32::MAX => Duration::ZERO,
            n => Duration::from_secs(1) / n.saturating_sub(1).max(1),
        };
        Self { interval, next: None }
    }

    /// Waits until the next message may go.
    pub(super) async fn wait(&mut self) {
        let now = Instant::now();
        if let Some(at) = self.next.filter(|at| *at > now) {
            tokio::time::sleep_until(at).await;
        }
        self.next = Some(Instant::now() + self.interval);
    }
}

/// Connection attempts in a sliding window, shared by every connection of one recorder.
#[derive(Debug)]
pub(crate) struct ConnectionBudget {
    limit: usize,
    window: Duration,
    attempts: Mutex<VecDeque<Instant>>,
}

impl ConnectionBudget {
    pub(crate) fn new(limits: &WsLimits) -> Self {
        Self::with_window(limits.connections_per_window, WsLimits::CONNECTION_WINDOW)
    }

    fn with_window(limit: u32, window: Duration) -> Self {
        Self {
            limit: usize::try_from(limit).unwrap_or(usize::MAX).max(1),
            window,
            attempts: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits until one more attempt fits in the window, and books it.
    pub(crate) async fn acquire(&self) {
        loop {
            let wait = {
                let mut q = self.attempts.lock().expect("connection budget mutex");
                let now = Instant::now();
                while q.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                    q.pop_front();
                }
                if q.len() < self.limit {
                    q.push_back(now);
                    return;
                }
                self.window.saturating_sub(now.duration_since(q[0]))
            };
            log::warn!("websocket: {} connection attempts in {:?}; waiting {wait:?}", self.limit, self.window);
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pacer_spaces_messages_leaving_one_a_second_for_pongs() {
        let mut p = Pacer::new(11);
        let t0 = Instant::now();
        for _ in 0..4 {
            p.wait().await;
        }
        // 10 messages a second: the 4th goes after 3 intervals of 100 ms.
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(400), "{took:?}");
    }

    #[tokio::test]
    async fn unlimited_pacer_never_waits() {
        let mut p = Pacer::new(u32::MAX);
        let t0 = Instant::now();
        for _ in 0..100 {
            p.wait().await;
        }
        assert!(t0.elapsed() < Duration::from_millis(50));
    }

    #[tokio::test]
    async fn budget_holds_the_attempt_beyond_the_limit_until_the_window_moves() {
        let b = ConnectionBudget::with_window(2, Duration::from_millis(300));
        let t0 = Instant::now();
        b.acquire().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        b.acquire().await;
        let second = t0.elapsed();
        b.acquire().await;
        let third = t0.elapsed();
        assert!(second < Duration::from_millis(200), "{second:?}");
        // The third attempt waits for the first to leave the window.
        assert!(third >= Duration::from_millis(300) && third < Duration::from_millis(400), "{third:?}");
    }
}
