//! The REST side: one generic handler serves every row of the endpoint table. It validates the
//! parameters against the row, meters weight, injects faults, and asks the model for the body.
//! The metering and faults (`admit`) and the answer (`answer`) are shared with the signed
//! routes ([`crate::user_data`]).

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{HeaderValue, StatusCode, header},
    response::Response,
};
use binance::{
    Endpoint,
    endpoint::{CONTRACT_TYPES, ParamKind, interval_ms, period_ms},
};

use crate::{
    fault::FaultAction,
    limits::Admission,
    payload,
    query::{ApiError, Query},
    server::AppState,
};

/// Serves `ep`: the body of every simulated REST route.
pub async fn handle(ep: &'static Endpoint, State(state): State<Arc<AppState>>, req: Request) -> Response {
    let raw: Vec<(String, String)> = req.uri().query().map(serde_urlencoded_pairs).unwrap_or_default();
    let now = state.now_ms();
    let weight = ep.weight_for(
        raw.iter().find(|(k, _)| k == "limit").and_then(|(_, v)| v.parse().ok()),
        raw.iter().any(|(k, _)| k == "symbol"),
    );
    let (used, fault) = match admit(ep, &state, client_ip(&req), weight).await {
        Ok(admitted) => admitted,
        Err(resp) => return resp,
    };
    let result = validate(ep, &raw, &state).and_then(|q| {
        // Replayed (market, symbol, kind) first; everything else from the model.
        if let Some(r) = state.replay.respond(ep, &q, now) {
            return r;
        }
        let model = Arc::clone(&state.model);
        payload::respond(ep, &q, &model, now)
    });
    answer(result, fault, used)
}

/// What every route does before its body: counts the request, charges `weight` to the
/// client's IP (429 / 418 past the limits), waits the configured latency, and answers a fault
/// that replaces the response. `Ok`: the window's used weight and a fault that alters the body.
///
/// # Errors
/// The response to send instead (429, 418, an injected status).
pub(crate) async fn admit(
    ep: &'static Endpoint,
    state: &AppState,
    ip: IpAddr,
    weight: u32,
) -> Result<(u32, Option<FaultAction>), Response> {
    let n = state.stats.record(ep);
    let used = match state.limits.admit(ip, ep.market, weight, ep.bucket, crate::server::wall_ms()) {
        Admission::Ok { used } => {
            state.stats.record_weight(ep.market, weight);
            used
        }
        Admission::TooMany { used, retry_after_secs } => {
            state.stats.record_429();
            let msg = format!(
                "Too many requests; current limit of IP({ip}) is {} requests per minute. Please use the websocket for live updates to avoid polling the API.",
                ep.market.weight_per_minute()
            );
            return Err(error_response(&ApiError::new(429, -1003, msg), used, Some(retry_after_secs)));
        }
        Admission::Banned { used, until_ms, retry_after_secs } => {
            state.stats.record_418();
            let msg = format!(
                "Way too many requests; IP({ip}) banned until {until_ms}. Please use the websocket for live updates to avoid bans."
            );
            return Err(error_response(&ApiError::new(418, -1003, msg), used, Some(retry_after_secs)));
        }
    };

    let id = ep.id();
    let fault = state.faults.next(&id, ep.path);
    let latency = state.faults.latency(&id, n);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match &fault {
        Some(FaultAction::Status { status, code, msg }) => {
            return Err(error_response(&ApiError::new(*status, *code, msg.clone()), used, None));
        }
        Some(FaultAction::TooMany { retry_after_secs }) => {
            state.stats.record_429();
            return Err(error_response(
                &ApiError::new(429, -1003, "Too many requests."),
                used,
                Some(*retry_after_secs),
            ));
        }
        Some(FaultAction::Ban { retry_after_secs }) => {
            state.stats.record_418();
            return Err(error_response(
                &ApiError::new(418, -1003, "Way too many requests; IP banned."),
                used,
                Some(*retry_after_secs),
            ));
        }
        Some(FaultAction::Delay { ms }) => tokio::time::sleep(std::time::Duration::from_millis(*ms)).await,
        Some(FaultAction::Truncate | FaultAction::Malformed) | None => {}
    }
    Ok((used, fault))
}

/// The peer's IP (loopback when the app runs without connection info, e.g. `oneshot`).
pub(crate) fn client_ip(req: &Request) -> IpAddr {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map_or(std::net::Ipv4Addr::LOCALHOST.into(), |c| c.0.ip())
}

/// The answer to a request that passed [`admit`]: the JSON body (cut or replaced by a body
/// fault), or the Binance error.
pub(crate) fn answer(result: Result<serde_json::Value, ApiError>, fault: Option<FaultAction>, used: u32) -> Response {
    let body = match result {
        Ok(v) => serde_json::to_vec(&v).expect("JSON values always serialise"),
        Err(e) => return error_response(&e, used, None),
    };
    let body = match fault {
        Some(FaultAction::Truncate) => body[..body.len() / 2].to_vec(),
        Some(FaultAction::Malformed) => b"<html><body>502 Bad Gateway</body></html>".to_vec(),
        _ => body,
    };
    json_response(StatusCode::OK, body, used, None)
}

pub(crate) fn serde_urlencoded_pairs(q: &str) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&format!("/?{q}").parse().expect("valid uri"))
        .map(|axum::extract::Query(v)| v)
        .unwrap_or_default()
}

fn json_response(status: StatusCode, body: Vec<u8>, used: u32, retry_after: Option<u64>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json;charset=UTF-8"));
    h.insert("x-mbx-used-weight-1m", HeaderValue::from(used));
    h.insert("x-mbx-used-weight", HeaderValue::from(used));
    if let Some(secs) = retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn error_response(e: &ApiError, used: u32, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(status, e.body().into_bytes(), used, retry_after)
}

pub(crate) fn is_symbol_like(v: &str) -> bool {
    !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn parse_u64(name: &str, v: &str) -> Result<u64, ApiError> {
    v.parse().map_err(|_| ApiError::illegal(name, "^[0-9]{1,20}$"))
}

/// Checks the sent parameters against the table row and types them.
///
/// # Errors
/// Binance's code for the first problem: -1104 unread parameter, -1102 missing, -1100 illegal
/// characters, -1120 bad interval, -1130 bad value, -1121 unknown symbol.
pub fn validate(ep: &Endpoint, raw: &[(String, String)], state: &AppState) -> Result<Query, ApiError> {
    if raw.iter().any(|(k, _)| ep.param(k).is_none()) {
        let read = raw.iter().filter(|(k, _)| ep.param(k).is_some()).count();
        return Err(ApiError::new(
            400,
            -1104,
            format!("Not all sent parameters were read; read '{read}' parameter(s) but was sent '{}'.", raw.len()),
        ));
    }
    let mut q = Query::default();
    for p in ep.params {
        let value = raw.iter().find(|(k, _)| k == p.name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
        let Some(v) = value else {
            if p.required {
                return Err(ApiError::missing(p.name));
            }
            if let ParamKind::Limit { default, .. } = p.kind {
                q.limit = default;
            }
            continue;
        };
        match p.kind {
            ParamKind::Symbol | ParamKind::Pair => {
                if !is_symbol_like(v) {
                    return Err(ApiError::illegal(p.name, "^[A-Z0-9-_.]{1,20}$"));
                }
                let up = v.to_ascii_uppercase();
                if !state.model.has_symbol(ep.market, &up) && !state.replay.has(ep.market, &up) {
                    return Err(ApiError::invalid_symbol());
                }
                if p.kind == ParamKind::Symbol {
                    q.symbol = Some(up);
                } else {
                    q.pair = Some(up);
                }
            }
            ParamKind::Interval => {
                let ms = interval_ms(v).ok_or_else(ApiError::invalid_interval)?;
                q.interval = Some((v.to_string(), ms));
            }
            ParamKind::Period => {
                let ms = period_ms(v).ok_or_else(|| ApiError::invalid_value(p.name))?;
                q.period = Some((v.to_string(), ms));
            }
            ParamKind::ContractType => {
                if !CONTRACT_TYPES.contains(&v) {
                    return Err(ApiError::invalid_value(p.name));
                }
                q.contract_type = Some(v.to_string());
            }
            ParamKind::Limit { max, values, .. } => {
                let l = u32::try_from(parse_u64(p.name, v)?).map_err(|_| ApiError::invalid_value(p.name))?;
                if l == 0 || (!values.is_empty() && !values.contains(&l)) {
                    return Err(ApiError::invalid_value(p.name));
                }
                // Binance serves at most `max` rows when asked for more.
                q.limit = l.min(max);
            }
            ParamKind::Time => {
                let t = parse_u64(p.name, v)?;
                if p.name == "startTime" {
                    q.start_time = Some(t);
                } else {
                    q.end_time = Some(t);
                }
            }
            ParamKind::Id => q.from_id = Some(parse_u64(p.name, v)?),
        }
    }
    if let (Some(s), Some(e)) = (q.start_time, q.end_time)
        && s > e
    {
        return Err(ApiError::invalid_value("startTime"));
    }
    Ok(q)
}
