//! Signed (`USER_DATA`) requests as Binance defines them ("SIGNED Endpoint Security" of the
//! USD-M general info): the query string carries `timestamp` (ms) and `recvWindow`, and
//! `signature = hex(HMAC-SHA256(secret, <the exact query string>))` is appended last. The key
//! travels in the `X-MBX-APIKEY` header. The client signs with [`signed_query`]; the simulator
//! checks with [`verify`], so both sides share one definition.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `recvWindow` sent with every signed request, ms (Binance recommends 5000 or less).
pub const RECV_WINDOW_MS: u64 = 5000;

/// The largest `recvWindow` Binance accepts, ms.
pub const MAX_RECV_WINDOW_MS: u64 = 60_000;

/// How far ahead of the server's clock a `timestamp` may be, ms (Binance's rule:
/// `timestamp < serverTime + 1000 && serverTime − timestamp <= recvWindow`).
pub const MAX_AHEAD_MS: u64 = 1000;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], payload: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(payload.as_bytes());
    mac
}

/// `hex(HMAC-SHA256(secret, payload))`, lower case.
#[must_use]
pub fn signature(secret: &[u8], payload: &str) -> String {
    hex::encode(mac(secret, payload).finalize().into_bytes())
}

/// Whether `signature_hex` is the signature of `payload` (compared in constant time).
#[must_use]
pub fn verify(secret: &[u8], payload: &str, signature_hex: &str) -> bool {
    hex::decode(signature_hex).is_ok_and(|sig| mac(secret, payload).verify_slice(&sig).is_ok())
}

/// `query&timestamp=<ms>&recvWindow=5000&signature=<hex>` (no `?`): `query` is the already
/// encoded parameter string (possibly empty), signed exactly as it is sent.
#[must_use]
pub fn signed_query(query: &str, secret: &[u8], timestamp_ms: u64) -> String {
    let sep = if query.is_empty() { "" } else { "&" };
    let payload = format!("{query}{sep}timestamp={timestamp_ms}&recvWindow={RECV_WINDOW_MS}");
    let sig = signature(secret, &payload);
    format!("{payload}&signature={sig}")
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    /// The worked example of Binance's USD-M docs ("SIGNED Endpoint Examples for POST
    /// /fapi/v1/order - HMAC Keys", Example 1: as a query string).
    const DOC_SECRET: &str = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";
    const DOC_QUERY: &str = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943";
    const DOC_SIGNATURE: &str = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9";

    #[test]
    fn binance_documented_example() {
        assert_eq!(signature(DOC_SECRET.as_bytes(), DOC_QUERY), DOC_SIGNATURE);
        assert!(verify(DOC_SECRET.as_bytes(), DOC_QUERY, DOC_SIGNATURE));
    }

    #[rstest]
    #[case::other_secret("wrong-secret", DOC_QUERY, DOC_SIGNATURE)]
    #[case::other_query(DOC_SECRET, "symbol=BTCUSDT", DOC_SIGNATURE)]
    #[case::not_hex(DOC_SECRET, DOC_QUERY, "zz")]
    #[case::empty(DOC_SECRET, DOC_QUERY, "")]
    #[case::truncated(DOC_SECRET, DOC_QUERY, &DOC_SIGNATURE[..62])]
    fn verify_rejects(#[case] secret: &str, #[case] payload: &str, #[case] sig: &str) {
        assert!(!verify(secret.as_bytes(), payload, sig));
    }

    #[rstest]
    #[case::with_params("symbol=BTCUSDT", "symbol=BTCUSDT&timestamp=1717200000000&recvWindow=5000")]
    #[case::without_params("", "timestamp=1717200000000&recvWindow=5000")]
    fn signed_query_signs_the_exact_string_and_puts_the_signature_last(#[case] query: &str, #[case] payload: &str) {
        let q = signed_query(query, b"alphalab-sim-secret", 1_717_200_000_000);
        assert_eq!(q, format!("{payload}&signature={}", signature(b"alphalab-sim-secret", payload)));
    }
}
