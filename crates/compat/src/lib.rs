//! No library code: this crate exists only to test the simulator's REST and WebSocket payloads
//! against Binance's official response models (crate `binance-sdk`), an oracle we did not write.
