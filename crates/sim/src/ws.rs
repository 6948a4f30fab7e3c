//! The WebSocket side: raw (`/ws/<stream>`) and combined (`/stream`) connections, live
//! SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS, server pings, and injected drops, stalls and
//! lost depth events.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{
        State, WebSocketUpgrade,
        ws::{Message, Utf8Bytes, WebSocket},
    },
    http::Uri,
    response::{IntoResponse, Response},
};
use binance::{
    Market,
    stream::{Stream, StreamKind},
};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::time::{Instant, MissedTickBehavior, interval};

use crate::{events, server::AppState};

/// `/ws` or `/ws/<stream>[/<stream>...]`: bare events.
pub async fn raw(market: Market, State(state): State<Arc<AppState>>, uri: Uri, up: WebSocketUpgrade) -> Response {
    let names: Vec<&str> = uri
        .path()
        .split_once("/ws")
        .map(|(_, rest)| rest.split('/').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    upgrade(market, false, &names, state, up)
}

/// `/stream[?streams=a/b/c]`: `{"stream", "data"}` envelopes.
pub async fn combined(market: Market, State(state): State<Arc<AppState>>, uri: Uri, up: WebSocketUpgrade) -> Response {
    let streams = uri.query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("streams="))).unwrap_or("");
    let names: Vec<&str> = streams.split('/').filter(|s| !s.is_empty()).collect();
    upgrade(market, true, &names, state, up)
}

fn resolve(market: Market, name: &str, state: &AppState) -> Option<Stream> {
    Stream::parse(name).filter(|s| s.kind.available_on(market) && state.model.has_symbol(market, &s.symbol))
}

fn upgrade(market: Market, combined: bool, names: &[&str], state: Arc<AppState>, up: WebSocketUpgrade) -> Response {
    let mut subs = Vec::new();
    for n in names {
        match resolve(market, n, &state) {
            Some(s) => subs.push(s),
            None => {
                return (axum::http::StatusCode::BAD_REQUEST, format!("Invalid stream name: {n}")).into_response();
            }
        }
    }
    up.on_upgrade(move |socket| session(socket, market, combined, subs, state))
}

/// Answers one control message; `None` when the message is not a control request.
fn control(market: Market, msg: &str, subs: &mut Vec<Stream>, state: &AppState) -> Option<Value> {
    let v: Value = serde_json::from_str(msg).ok()?;
    let id = v.get("id").cloned().unwrap_or(Value::Null);
    let bad = |m: String| json!({"error": {"code": 2, "msg": m}, "id": id});
    let names: Vec<String> = v
        .get("params")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    match v.get("method").and_then(Value::as_str) {
        Some("SUBSCRIBE") => {
            let mut new = Vec::new();
            for n in &names {
                match resolve(market, n, state) {
                    Some(s) => new.push(s),
                    None => return Some(bad(format!("Invalid request: invalid stream name '{n}'"))),
                }
            }
            for s in new {
                if !subs.contains(&s) {
                    subs.push(s);
                }
            }
            Some(json!({"result": null, "id": id}))
        }
        Some("UNSUBSCRIBE") => {
            subs.retain(|s| !names.contains(&s.name()));
            Some(json!({"result": null, "id": id}))
        }
        Some("LIST_SUBSCRIPTIONS") => {
            Some(json!({"result": subs.iter().map(Stream::name).collect::<Vec<_>>(), "id": id}))
        }
        Some("SET_PROPERTY" | "GET_PROPERTY") => Some(json!({"result": null, "id": id})),
        Some(other) => Some(bad(format!("Invalid request: unknown method '{other}'"))),
        None => Some(bad("Invalid request: missing method".into())),
    }
}

async fn session(socket: WebSocket, market: Market, combined: bool, mut subs: Vec<Stream>, state: Arc<AppState>) {
    let (mut tx, mut rx) = socket.split();
    let opened = Instant::now();
    let faults = state.faults.config().clone();
    let mut tick = interval(Duration::from_millis(state.cfg.ws.tick_ms.max(1)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let ping_every = Duration::from_millis(state.cfg.ws.ping_interval_ms.max(1));
    let mut ping = tokio::time::interval_at(opened + ping_every, ping_every);
    let mut cursor = state.now_ms();
    // The depth event left out on this connection (`ws_skip_depth_after_ms`), once.
    let mut skip_pending = faults.ws_skip_depth_after_ms.is_some();
    loop {
        tokio::select! {
            msg = rx.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if let Some(reply) = control(market, t.as_str(), &mut subs, &state)
                        && tx.send(Message::Text(Utf8Bytes::from(reply.to_string()))).await.is_err()
                    {
                        return;
                    }
                }
                Some(Ok(Message::Ping(p))) => {
                    if tx.send(Message::Pong(p)).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = tick.tick() => {
                let age = opened.elapsed().as_millis() as u64;
                if faults.ws_drop_after_ms.is_some_and(|d| age >= d) && state.faults.take_ws_drop() {
                    // An abrupt drop: no close frame, as when a proxy or Binance resets the socket.
                    return;
                }
                let skip_now = skip_pending && faults.ws_skip_depth_after_ms.is_some_and(|d| age >= d);
                let now = state.now_ms();
                let stalled = faults.ws_stall_after_ms.is_some_and(|s| age >= s && age < s + faults.ws_stall_ms);
                if !stalled {
                    for s in &subs {
                        let name = s.name();
                        let mut evs = events::events(market, s, cursor, now, &state.model);
                        if skip_now && s.kind == StreamKind::Depth100ms && !evs.is_empty() {
                            skip_pending = false;
                            if state.faults.take_ws_skip() {
                                log::info!("simulator: left out {name} event {} (fault)", evs[0].1["u"]);
                                evs.remove(0);
                            }
                        }
                        for (_, ev) in evs {
                            let text = if combined {
                                format!("{{\"stream\":\"{name}\",\"data\":{ev}}}")
                            } else {
                                ev.to_string()
                            };
                            if tx.send(Message::Text(Utf8Bytes::from(text))).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                cursor = now;
            }
            _ = ping.tick() => {
                if tx.send(Message::Ping(bytes::Bytes::from_static(b"alphalab-sim"))).await.is_err() {
                    return;
                }
            }
        }
    }
}
