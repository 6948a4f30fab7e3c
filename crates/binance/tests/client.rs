//! Integration tests of the REST and WebSocket clients against in-process stub servers.
//!
//! Every server binds 127.0.0.1:0 inside the test; nothing reaches any other address.

#[path = "client/rest.rs"]
mod rest;
#[path = "client/stub.rs"]
mod stub;
#[path = "client/ws.rs"]
mod ws;
