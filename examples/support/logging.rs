//! The examples' logs: `tracing-subscriber` on stderr, filtered by `RUST_LOG` (`info` when it
//! is unset or empty; `RUST_LOG=debug` for everything, `RUST_LOG=tidal_runtime=debug,info` for
//! the runtime's details).

use tracing_subscriber::filter::{EnvFilter, LevelFilter};

/// Installs the subscriber; call it first in `main`.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::builder()
                .with_default_directive(LevelFilter::INFO.into())
                .from_env_lossy(),
        )
        .init();
}
