//! The baseline server: a bare tokio-tungstenite WebSocket server that does the minimum for
//! each scenario and parses nothing.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::{Sink, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

/// What a baseline server does with a text frame that is not a link.
#[derive(Clone, Copy)]
pub(crate) enum Mode {
    /// Scenario 1: count it and publish it as the latest value to the subscribers.
    Coalesce,
    /// Scenario 2: send it to every subscriber.
    Broadcast,
    /// Scenario 4: send it back.
    Echo,
}

/// State shared by the connections of one baseline server.
struct Shared {
    mode: Mode,
    /// Text frames received that were not links.
    received: AtomicU64,
    latest: watch::Sender<Utf8Bytes>,
    all: broadcast::Sender<Utf8Bytes>,
}

/// Starts a baseline server on the current runtime; returns its address.
pub(crate) async fn baseline_server(mode: Mode) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("the baseline binds");
    let addr = listener.local_addr().expect("a bound address");
    let shared = Arc::new(Shared {
        mode,
        received: AtomicU64::new(0),
        latest: watch::channel(Utf8Bytes::from_static("")).0,
        all: broadcast::channel(1024).0,
    });
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(baseline_connection(stream, shared.clone()));
        }
    });
    addr
}

/// A subscription of a baseline connection.
enum Subscription {
    None,
    Latest(watch::Receiver<Utf8Bytes>),
    All(broadcast::Receiver<Utf8Bytes>),
}

async fn baseline_connection(stream: TcpStream, shared: Arc<Shared>) {
    let Ok(socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut stream) = socket.split();
    let mut subscription = Subscription::None;
    loop {
        let result: Result<(), WsError> = tokio::select! {
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if text.starts_with("@link") || text.starts_with("@sync") {
                        subscription = match shared.mode {
                            Mode::Coalesce => Subscription::Latest(shared.latest.subscribe()),
                            Mode::Broadcast => Subscription::All(shared.all.subscribe()),
                            Mode::Echo => Subscription::None,
                        };
                        sink.send(Message::text("@linked")).await
                    } else {
                        shared.received.fetch_add(1, Ordering::Relaxed);
                        match shared.mode {
                            Mode::Coalesce => {
                                shared.latest.send_replace(text);
                                Ok(())
                            }
                            Mode::Broadcast => {
                                let _ = shared.all.send(text);
                                Ok(())
                            }
                            Mode::Echo => sink.send(Message::Text(text)).await,
                        }
                    }
                }
                Some(Ok(_)) => Ok(()),
                None | Some(Err(_)) => break,
            },
            out = subscribed(&mut subscription) => match out {
                Some(text) => write_all_ready(&mut sink, &mut subscription, text).await,
                None => break,
            },
        };
        if result.is_err() {
            break;
        }
    }
}

/// The next frame to write to a subscribed connection: the latest value (`Latest`) or the next
/// frame broadcast, skipping what it lagged behind on (`All`). Never ready without a
/// subscription; `None` when the server's channel is gone.
async fn subscribed(subscription: &mut Subscription) -> Option<Utf8Bytes> {
    match subscription {
        Subscription::Latest(receiver) => {
            receiver.changed().await.ok()?;
            Some(receiver.borrow_and_update().clone())
        }
        Subscription::All(receiver) => loop {
            match receiver.recv().await {
                Ok(text) => return Some(text),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        },
        Subscription::None => std::future::pending().await,
    }
}

/// Writes `first` and (broadcast) everything else already sent, then flushes once.
async fn write_all_ready<S>(
    sink: &mut S,
    subscription: &mut Subscription,
    first: Utf8Bytes,
) -> Result<(), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    sink.feed(Message::Text(first)).await?;
    if let Subscription::All(receiver) = subscription {
        loop {
            match receiver.try_recv() {
                Ok(text) => sink.feed(Message::Text(text)).await?,
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
    }
    sink.flush().await
}
