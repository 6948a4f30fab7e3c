//! Scripted HTTP and WebSocket stand-ins for Binance, so failures can be produced on demand.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, Response, Uri};
use axum::response::IntoResponse;
use axum::routing::get;

/// One canned HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn ok(body: &str) -> Self {
        Self::status(200, body)
    }

    pub fn status(status: u16, body: &str) -> Self {
        Self { status, headers: Vec::new(), body: body.to_string(), delay: Duration::ZERO }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }

    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

/// A request as the stub saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub path_and_query: String,
    pub api_key: Option<String>,
}

#[derive(Clone)]
struct HttpState {
    script: Arc<Mutex<VecDeque<Reply>>>,
    fallback: Reply,
    hits: Arc<Mutex<Vec<Hit>>>,
}

/// Answers with `script` in order, then `fallback` forever, whatever the path.
pub struct HttpStub {
    pub base: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl HttpStub {
    pub async fn start(script: Vec<Reply>, fallback: Reply) -> Self {
        let state = HttpState { script: Arc::new(Mutex::new(script.into())), fallback, hits: Arc::default() };
        let hits = state.hits.clone();
        let app = Router::new().fallback(http_reply).with_state(state);
        let base = serve(app).await;
        Self { base, hits }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

async fn http_reply(State(s): State<HttpState>, uri: Uri, headers: HeaderMap) -> Response<Body> {
    let api_key = headers.get("x-mbx-apikey").map(|v| v.to_str().unwrap().to_string());
    let path_and_query = uri.path_and_query().map(ToString::to_string).unwrap_or_default();
    s.hits.lock().unwrap().push(Hit { path_and_query, api_key });
    let reply = s.script.lock().unwrap().pop_front().unwrap_or_else(|| s.fallback.clone());
    tokio::time::sleep(reply.delay).await;
    let mut b = Response::builder().status(reply.status);
    for (k, v) in reply.headers {
        b = b.header(k, v);
    }
    b.body(Body::from(reply.body)).unwrap()
}

/// How the WebSocket stub misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsMode {
    /// Ping once, then drop the first connection without a close frame after 5 data frames.
    PingThenDrop,
    /// Acknowledge the first subscription, then send nothing on that connection.
    StallFirst,
    /// Answer the subscription with a Binance error reply.
    Reject,
    /// Send frames on every connection, never failing.
    Steady,
}

/// Data frame `i` of connection `conn`, as the stub sends it.
pub fn ws_frame(conn: u32, i: u32) -> String {
    format!(r#"{{"stream":"btcusdt@trade","data":{{"e":"trade","t":{i},"c":{conn}}}}}"#)
}

#[derive(Clone)]
struct WsState {
    mode: WsMode,
    conns: Arc<AtomicU32>,
    pongs: Arc<Mutex<Vec<Vec<u8>>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

/// Combined-stream server on `/stream` sending a trade frame every 50 ms.
pub struct WsStub {
    pub base: String,
    state: WsState,
}

impl WsStub {
    pub async fn start(mode: WsMode) -> Self {
        let state = WsState { mode, conns: Arc::default(), pongs: Arc::default(), requests: Arc::default() };
        let app = Router::new().route("/stream", get(ws_upgrade)).with_state(state.clone());
        let base = serve(app).await.replace("http://", "ws://");
        Self { base, state }
    }

    pub fn connections(&self) -> u32 {
        self.state.conns.load(Ordering::SeqCst)
    }

    /// Payloads of the pongs received.
    pub fn pongs(&self) -> Vec<Vec<u8>> {
        self.state.pongs.lock().unwrap().clone()
    }

    /// Text messages the clients sent (the SUBSCRIBE requests).
    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().unwrap().clone()
    }
}

async fn ws_upgrade(ws: WebSocketUpgrade, State(s): State<WsState>) -> impl IntoResponse {
    ws.on_upgrade(move |socket| ws_session(socket, s))
}

async fn ws_session(mut socket: WebSocket, s: WsState) {
    let conn = s.conns.fetch_add(1, Ordering::SeqCst) + 1;
    let Some(Ok(Message::Text(req))) = socket.recv().await else {
        return;
    };
    s.requests.lock().unwrap().push(req.to_string());
    let id = serde_json::from_str::<serde_json::Value>(req.as_str()).unwrap()["id"].clone();
    if s.mode == WsMode::Reject {
        let reply = format!(r#"{{"error":{{"code":2,"msg":"Invalid request: unknown stream"}},"id":{id}}}"#);
        let _ = socket.send(Message::Text(reply.into())).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        return;
    }
    let ack = format!(r#"{{"result":null,"id":{id}}}"#);
    if socket.send(Message::Text(ack.into())).await.is_err() {
        return;
    }
    let first = conn == 1;
    if first && s.mode == WsMode::PingThenDrop && socket.send(Message::Ping("hb".into())).await.is_err() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut sent = 0;
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Pong(p))) => s.pongs.lock().unwrap().push(p.to_vec()),
                Some(Ok(_)) => {}
                _ => return,
            },
            _ = tick.tick() => {
                if first && s.mode == WsMode::StallFirst {
                    continue;
                }
                if first && s.mode == WsMode::PingThenDrop && sent == 5 {
                    return; // dropped: no close frame
                }
                if socket.send(Message::Text(ws_frame(conn, sent).into())).await.is_err() {
                    return;
                }
                sent += 1;
            }
        }
    }
}

/// Serves `app` on 127.0.0.1:0 and returns `http://127.0.0.1:PORT`.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}
