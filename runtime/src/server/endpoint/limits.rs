//! Limits that hold under abuse: connections in total and per peer address, and commands per
//! second per connection (a token bucket). Each limit logs once per offender, not once per
//! frame.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

use crate::lock::lock;

/// How much of the server's capacity one peer, and one connection, may take.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Connections open at once, from everyone. Default 10,000; more are closed at once.
    pub max_connections: usize,
    /// Connections open at once from one IP address. Default 256.
    pub max_connections_per_peer: usize,
    /// Links (and syncs) open at once on one connection. Default 10,000; a link past it gets
    /// `@unlinked(..)@tooManyLinks`.
    pub max_links_per_connection: usize,
    /// Commands per second one connection may send (a token bucket of that many, refilled
    /// continuously). Default 1,000,000, above what one connection can push through a server
    /// on a small machine, so that a busy but honest client loses nothing; lower it for
    /// untrusted clients. Commands past it are dropped and counted.
    pub commands_per_second: u32,
    /// Once this many commands of one connection were dropped, the connection is closed
    /// (code 1008): the client is flooding, not bursting. Default 1,000,000.
    pub max_dropped_commands: u64,
    /// The largest request head (request line and headers) of an HTTP request or WebSocket
    /// upgrade, in bytes. Default 16 KiB (hyper's minimum is 8 KiB).
    pub max_header_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_connections_per_peer: 256,
            max_links_per_connection: 10_000,
            commands_per_second: 1_000_000,
            max_dropped_commands: 1_000_000,
            max_header_size: 16 * 1024,
        }
    }
}

/// The connections open, by peer address.
#[derive(Clone, Default)]
pub(super) struct Occupancy {
    inner: Arc<Mutex<OccupancyState>>,
}

#[derive(Default)]
struct OccupancyState {
    total: usize,
    /// Connections and whether the peer was already logged as over its limit.
    by_peer: HashMap<IpAddr, (usize, bool)>,
    total_logged: bool,
}

/// A connection counted in the [`Occupancy`]; dropping it frees its place.
pub(super) struct Seat {
    occupancy: Occupancy,
    peer: IpAddr,
}

impl Occupancy {
    /// A place for a connection from `peer`, or `None` if a limit is reached (logged once
    /// per offender).
    pub(super) fn admit(&self, peer: IpAddr, limits: &Limits) -> Option<Seat> {
        let mut state = lock(&self.inner);
        if state.total >= limits.max_connections {
            if !std::mem::replace(&mut state.total_logged, true) {
                tracing::warn!(
                    limit = limits.max_connections,
                    "too many connections; refusing new ones until some close"
                );
            }
            return None;
        }
        let (count, logged) = state.by_peer.entry(peer).or_default();
        if *count >= limits.max_connections_per_peer {
            if !std::mem::replace(logged, true) {
                tracing::warn!(%peer, limit = limits.max_connections_per_peer, "too many connections from one peer; refusing its new ones");
            }
            return None;
        }
        *count += 1;
        state.total += 1;
        state.total_logged = false;
        Some(Seat {
            occupancy: self.clone(),
            peer,
        })
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut state = lock(&self.occupancy.inner);
        state.total = state.total.saturating_sub(1);
        if let Some((count, _)) = state.by_peer.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                state.by_peer.remove(&self.peer);
            }
        }
    }
}

/// Commands per second of one connection: a token bucket.
pub(super) struct CommandRate {
    rate: f64,
    tokens: f64,
    last: Instant,
    /// Commands dropped so far.
    pub(super) dropped: u64,
}

impl CommandRate {
    pub(super) fn new(per_second: u32) -> Self {
        let rate = f64::from(per_second.max(1));
        CommandRate {
            rate,
            tokens: rate,
            last: Instant::now(),
            dropped: 0,
        }
    }

    /// Whether one more command may go through now; counts (and logs, once) one that may
    /// not. The bucket is refilled only when it runs dry, so that a client within its rate
    /// costs no clock reading per command.
    pub(super) fn admit(&mut self) -> bool {
        if self.tokens < 1.0 {
            let now = Instant::now();
            let elapsed = now.saturating_duration_since(self.last);
            self.last = now;
            self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.rate);
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return true;
        }
        self.dropped += 1;
        if self.dropped == 1 {
            tracing::warn!(per_second = self.rate, "a client sends commands faster than allowed; dropping the excess (counted, not logged)");
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn peers_and_the_total_are_bounded_and_places_come_back() {
        let limits = Limits {
            max_connections: 3,
            max_connections_per_peer: 2,
            ..Limits::default()
        };
        let occupancy = Occupancy::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = occupancy.admit(a, &limits).unwrap();
        let _second = occupancy.admit(a, &limits).unwrap();
        assert!(occupancy.admit(a, &limits).is_none(), "per peer");
        let _third = occupancy.admit(b, &limits).unwrap();
        assert!(occupancy.admit(b, &limits).is_none(), "in total");
        drop(first);
        assert!(occupancy.admit(a, &limits).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn commands_past_the_rate_are_dropped_until_the_bucket_refills() {
        let mut rate = CommandRate::new(10);
        assert_eq!((0..15).filter(|_| rate.admit()).count(), 10);
        assert_eq!(rate.dropped, 5);
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!((0..15).filter(|_| rate.admit()).count(), 5);
    }
}
