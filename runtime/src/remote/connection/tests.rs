//! The connection task against scripted hosts, on tokio's paused clock where time matters.

use std::sync::{Arc, Mutex};

use tokio::time::{Duration, Instant};

use super::*;
use crate::environment::Waits;
use crate::lanes::{Encoded, LinkSink, LinkSubscriber, ReconMapSink, ReconValueSink};
use crate::recon::Value;

/// Records what a link hears.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>, tokio::sync::Notify);

impl LinkSink for Recorder {
    fn linked(&self) {
        self.0.lock().unwrap().push("linked".into());
    }
    fn synced(&self) {
        self.0.lock().unwrap().push("synced".into());
    }
    fn unlinked(&self, reason: UnlinkReason) {
        self.0.lock().unwrap().push(format!("unlinked: {reason}"));
        self.1.notify_one();
    }
    fn connection_lost(&self) {
        self.0.lock().unwrap().push("lost".into());
    }
    fn is_closed(&self) -> bool {
        false
    }
}

impl ReconValueSink for Recorder {
    fn event_recon(&self, _: &Encoded) -> Result<(), String> {
        Ok(())
    }
}

impl ReconMapSink for Recorder {
    fn update_recon(&self, _: &Encoded, _: &Encoded) -> Result<(), String> {
        Ok(())
    }
    fn remove_recon(&self, _: &Encoded) -> Result<(), String> {
        Ok(())
    }
    fn clear(&self) {}
}

#[test]
fn while_offline_value_writes_keep_the_latest_and_other_writes_queue_in_order_bounded() {
    let config = RemoteConfig {
        max_queued_commands: 4,
        ..RemoteConfig::default()
    };
    let mut commands = VecDeque::new();
    let mut write = |lane: &str, body: i32, waits: Waits| {
        let request = HostRequest::Command {
            node: "/n".into(),
            lane: lane.into(),
            body: Value::Int(body.into()),
            waits,
        };
        offline(request, &mut Links::default(), &mut commands, &config);
        commands
            .iter()
            .map(|w| format!("{} {}", w.address.1, w.body))
            .collect::<Vec<_>>()
    };
    write("value", 1, Waits::Latest);
    write("map", 1, Waits::Every);
    write("value", 2, Waits::Latest);
    write("other", 1, Waits::Latest);
    write("map", 2, Waits::Every);
    // One write per value lane, the latest, in the place of its last write.
    let waiting = write("value", 3, Waits::Latest);
    assert_eq!(waiting, ["map 1", "other 1", "map 2", "value 3"]);
    // Past the bound the oldest goes first.
    let waiting = write("map", 3, Waits::Every);
    assert_eq!(waiting, ["other 1", "map 2", "value 3", "map 3"]);
}

static ATTEMPTS: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

fn refused(
    _: String,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Socket, WsError>> + Send>> {
    ATTEMPTS.lock().unwrap().push(Instant::now());
    Box::pin(async {
        Err(WsError::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        )))
    })
}

#[tokio::test(start_paused = true)]
async fn failed_connections_back_off_exponentially_with_jitter_then_give_up() {
    let config = RemoteConfig {
        initial_delay: Duration::from_millis(100),
        factor: 2.0,
        max_delay: Duration::from_millis(500),
        max_attempts: Some(6),
        ..RemoteConfig::default()
    };
    let recorder = Arc::new(Recorder::default());
    let (requests, queue) = mpsc::unbounded_channel();
    requests
        .send(HostRequest::Link {
            node: "/a".into(),
            lane: "b".into(),
            subscriber: LinkSubscriber::Untyped {
                id: 1,
                value: recorder.clone(),
                map: recorder.clone(),
                sync: true,
            },
        })
        .unwrap();
    let task = tokio::spawn(run_with(
        "ws://nowhere".into(),
        queue,
        config.clone(),
        None,
        refused,
    ));
    // Waiting lets the paused clock jump from one retry to the next.
    recorder.1.notified().await;
    let attempts = ATTEMPTS.lock().unwrap().clone();
    assert_eq!(attempts.len(), 6);
    for (i, pair) in attempts.windows(2).enumerate() {
        let nominal = config.delay(i as u32 + 1);
        let waited = pair[1] - pair[0];
        assert!(
            waited >= nominal / 2 && waited <= nominal,
            "retry {} after {waited:?}, nominal {nominal:?}",
            i + 1
        );
    }
    // The delays grow, up to the cap: 100, 200, 400, 500, 500 ms (before jitter).
    assert_eq!(config.delay(5), Duration::from_millis(500));
    // Giving up fails the link; a connection failure is never an unlink before that.
    let heard = recorder.0.lock().unwrap().clone();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert!(heard[0].starts_with("unlinked: unreachable"), "{heard:?}");
    // Unlinking the failed link (its handle dropped) does not dial the host again...
    requests.send(HostRequest::Unlink { id: 1 }).unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(ATTEMPTS.lock().unwrap().len(), 6);
    // ...new work does.
    requests
        .send(HostRequest::Command {
            node: "/a".into(),
            lane: "b".into(),
            body: Value::Int(1),
            waits: Waits::Every,
        })
        .unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(ATTEMPTS.lock().unwrap().len(), 12);
    drop(requests);
    task.await.unwrap();
}
