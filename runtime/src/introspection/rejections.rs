//! What clients send that the server refuses: counted for the metrics
//! (`tidal_client_input_rejected_total{reason=..}`), and logged at most once per
//! [`LOG_INTERVAL`] per connection or agent, with a count of what was not logged and only the
//! first [`CLIENT_TEXT`] bytes of what the client sent. One client sending garbage cannot fill
//! the log.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Why the server refused something a client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// A command whose body does not fit its lane.
    BadCommand,
    /// A command to a lane the agent does not have.
    UnknownLane,
    /// A command to a node no route serves.
    UnknownNode,
    /// A link, sync or command the policy denied.
    Denied,
    /// A command over the connection's rate.
    RateLimited,
}

impl Rejection {
    const ALL: [Rejection; 5] = [
        Rejection::BadCommand,
        Rejection::UnknownLane,
        Rejection::UnknownNode,
        Rejection::Denied,
        Rejection::RateLimited,
    ];

    /// Its `reason` label in the metrics.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Rejection::BadCommand => "bad_command",
            Rejection::UnknownLane => "unknown_lane",
            Rejection::UnknownNode => "unknown_node",
            Rejection::Denied => "denied",
            Rejection::RateLimited => "rate_limited",
        }
    }
}

/// How many of each rejection a server has seen.
#[derive(Debug, Default)]
pub(crate) struct Rejections([AtomicU64; Rejection::ALL.len()]);

impl Rejections {
    /// Counts one `rejection`.
    pub(crate) fn count(&self, rejection: Rejection) {
        self.0[rejection as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Each rejection's label and count.
    pub(crate) fn counts(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Rejection::ALL.into_iter().map(|rejection| {
            (
                rejection.label(),
                self.0[rejection as usize].load(Ordering::Relaxed),
            )
        })
    }
}

/// How often one connection or agent logs what clients sent that was refused.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// How much of what a client sent a log line shows.
pub(crate) const CLIENT_TEXT: usize = 200;

/// Lets a log line about each kind of refused client input through at most once per
/// [`LOG_INTERVAL`] (one per connection, one per agent).
#[derive(Debug, Default)]
pub(crate) struct RefusalLog([LogThrottle; Rejection::ALL.len()]);

impl RefusalLog {
    /// Whether to log a `rejection` now; if so, how many lines of its kind were held back.
    pub(crate) fn admit(&mut self, rejection: Rejection) -> Option<u64> {
        self.0[rejection as usize].admit()
    }
}

/// Lets a log line through at most once per [`LOG_INTERVAL`].
#[derive(Debug, Default)]
struct LogThrottle {
    /// When the next line may be logged (`None`: now).
    next: Option<Instant>,
    /// Lines not logged since the last one.
    suppressed: u64,
}

impl LogThrottle {
    /// Whether to log now; if so, how many lines were held back since the last one.
    fn admit(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.next.is_some_and(|next| now < next) {
            self.suppressed += 1;
            return None;
        }
        self.next = Some(now + LOG_INTERVAL);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// At most [`CLIENT_TEXT`] bytes of `text` (cut at a character boundary, marked with `…`).
pub(crate) fn clip(text: &str) -> Cow<'_, str> {
    if text.len() <= CLIENT_TEXT {
        return Cow::Borrowed(text);
    }
    let mut end = CLIENT_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes)", &text[..end], text.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_of_the_lines_held_back() {
        let mut throttle = LogThrottle::default();
        assert_eq!(throttle.admit(), Some(0));
        for _ in 0..99 {
            assert_eq!(throttle.admit(), None);
        }
        // As if the interval had passed.
        throttle.next = Some(Instant::now());
        assert_eq!(throttle.admit(), Some(99));
        assert_eq!(throttle.admit(), None);
    }

    #[test]
    fn long_client_text_is_clipped_at_a_character_boundary() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(CLIENT_TEXT);
        let clipped = clip(&long);
        assert!(clipped.len() < CLIENT_TEXT + 32, "{clipped}");
        assert!(clipped.ends_with(&format!("… ({} bytes)", long.len())));
    }

    #[test]
    fn each_rejection_is_counted_under_its_label() {
        let rejections = Rejections::default();
        rejections.count(Rejection::Denied);
        rejections.count(Rejection::Denied);
        rejections.count(Rejection::BadCommand);
        let counts: Vec<_> = rejections.counts().collect();
        assert!(counts.contains(&("denied", 2)));
        assert!(counts.contains(&("bad_command", 1)));
        assert!(counts.contains(&("unknown_node", 0)));
    }
}
