//! alphalab's offline Binance: a seeded market model served over Binance's wire formats.
//!
//! [`spawn`] starts it in-process on an ephemeral loopback port (tests, demo, benchmarks);
//! [`router`] gives the bare axum app. Every market-data route comes from `binance::ENDPOINTS`;
//! the signed `USER_DATA` routes (leverage brackets, [`brackets`]) are in [`user_data`]. The model
//! holds a universe of symbols ([`model::universe`]) with listings and delistings.

pub mod archive_tree;
pub mod brackets;
pub mod config;
pub mod events;
pub mod fault;
pub mod limits;
pub mod model;
pub mod payload;
pub mod query;
pub mod replay;
pub mod rest;
pub mod server;
pub mod user_data;
pub mod ws;

pub use config::{SimConfig, UserDataConfig};
pub use replay::{Replay, ReplayError, ReplayFile, ReplayKind};
pub use server::{AppState, SimHandle, router, spawn};
