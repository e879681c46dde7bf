//! Hosts that stop reading or fall silent: write timeout and keep-alive.

use super::*;

/// A WARP host serving `/deaf` lane `value`: it answers the sync (followed by frames the
/// client must ignore), then never reads again, but sends an event for every number on
/// the channel it returns. Its task ends when a
/// client connects again (having given up on the first connection).
///
/// Its handshake names no subprotocol, as some WARP servers do not: the client then
/// connects again without offering `warp0`. Its small receive buffer (accepted sockets
/// inherit it) keeps the kernel from absorbing what it does not read.
fn deaf_host() -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedSender<i64>,
    JoinHandle<()>,
) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(8).unwrap();
    let addr = listener.local_addr().unwrap();
    let (send_event, mut event_wanted) = tokio::sync::mpsc::unbounded_channel::<i64>();
    let host = tokio::spawn(async move {
        let mut socket = loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut socket = tokio_tungstenite::accept_async(tcp).await.unwrap();
            // The first client declines the handshake and closes.
            if let Some(Ok(request)) = socket.next().await {
                assert!(request.to_text().unwrap().starts_with("@sync"), "{request}");
                break socket;
            }
        };
        for frame in [
            "@linked(node:\"/deaf\",lane:value)",
            "@event(node:\"/deaf\",lane:value)0",
            "@synced(node:\"/deaf\",lane:value)",
            // Bad input, which the client ignores: a malformed envelope, an event for a
            // lane nothing links to, an unknown envelope.
            "@event(node:\"/deaf\",lane:",
            "@event(node:\"/nowhere\",lane:value)1",
            "@shout(node:\"/deaf\",lane:value)2",
        ] {
            socket.send(Message::text(frame)).await.unwrap();
        }
        socket.send(Message::binary(vec![0xff, 0])).await.unwrap();
        loop {
            tokio::select! {
                Some(n) = event_wanted.recv() => {
                    let frame = format!("@event(node:\"/deaf\",lane:value){n}");
                    socket.send(Message::text(frame)).await.unwrap();
                }
                _ = listener.accept() => break,
            }
        }
    });
    (addr, send_event, host)
}

/// Links to the deaf host and sends it far more than the socket buffers hold, so that
/// the writes stall.
async fn stall(client: &tidal::client::Client, target: &str) -> tidal::client::RawLink {
    use tidal::client::RawEvent;

    let mut link = client.raw_link(target, "/deaf", "value", true);
    assert_eq!(next(&mut link).await, Some(RawEvent::Linked));
    assert!(matches!(next(&mut link).await, Some(RawEvent::Event(_))));
    assert_eq!(next(&mut link).await, Some(RawEvent::Synced));
    let big = tidal::recon::Value::Text("x".repeat(1 << 20));
    for _ in 0..64 {
        client
            .command_recon(target, "/deaf", "value", big.clone())
            .await
            .unwrap();
    }
    link
}

/// Waits until the client connects to the deaf host again (its task then ends).
async fn comes_back(host: JoinHandle<()>) {
    let reconnected = tokio::time::timeout(Duration::from_secs(10), host).await;
    assert!(matches!(reconnected, Ok(Ok(()))), "{reconnected:?}");
}

async fn next(link: &mut tidal::client::RawLink) -> Option<tidal::client::RawEvent> {
    let next = tokio::time::timeout(Duration::from_secs(10), link.next()).await;
    next.expect("the link reports within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_stops_reading_still_delivers_its_events() {
    use tidal::client::{Client, RawEvent};

    let (addr, send_event, host) = deaf_host();
    let client = Client::new();
    let mut link = stall(&client, &format!("ws://{addr}")).await;
    send_event.send(42).unwrap();
    let event = next(&mut link).await;
    assert!(
        matches!(&event, Some(RawEvent::Event(v)) if v.to_string() == "42"),
        "{event:?}"
    );
    drop((client, send_event));
    host.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_whose_writes_stall_past_the_write_timeout_is_made_again() {
    use tidal::client::Client;
    use tidal::remote::RemoteConfig;

    let (addr, _send_event, host) = deaf_host();
    let mut config = RemoteConfig::default();
    config.write_timeout = Duration::from_millis(500);
    let client = Client::with_config(config);
    let _link = stall(&client, &format!("ws://{addr}")).await;
    comes_back(host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_falls_silent_and_answers_no_ping_is_connected_to_again() {
    use tidal::client::{Client, RawEvent};
    use tidal::remote::RemoteConfig;

    // The deaf host sends nothing after the sync, and never reads our pings.
    let (addr, _send_event, host) = deaf_host();
    let mut config = RemoteConfig::default();
    config.keepalive = Duration::from_millis(200);
    let client = Client::with_config(config);
    let mut link = client.raw_link(&format!("ws://{addr}"), "/deaf", "value", true);
    assert_eq!(next(&mut link).await, Some(RawEvent::Linked));
    comes_back(host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_host_that_answers_pings_keeps_its_connection() {
    use tidal::client::Client;
    use tidal::remote::RemoteConfig;

    let source = source_server("127.0.0.1:0".parse().unwrap()).await;
    let host = format!("ws://{}", source.server.bound_addr().unwrap());
    let mut config = RemoteConfig::default();
    config.keepalive = Duration::from_millis(400);
    let client = Client::with_config(config);
    let log = Log::default();
    let (linked, synced) = (log.clone(), log.clone());
    let _downlink = client
        .value_downlink::<i64>(&host, "/source/1", "value")
        .on_linked(move || linked.push("linked".into()))
        .on_synced(move |v| synced.push(format!("synced {v}")))
        .open()
        .await
        .unwrap();
    log.wait_for("synced 0").await;
    // Seven keep-alive periods without a lane event: the pings are answered, so the link
    // stays as it is (a reconnection would link and sync again).
    tokio::time::sleep(Duration::from_millis(2800)).await;
    assert_eq!(log.lines(), ["linked", "synced 0"]);
    assert_eq!(source.server.open_connections(), 1);
    drop(client);
    source.stop().await;
}
