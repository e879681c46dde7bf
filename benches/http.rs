//! HTTP lanes against a bare HTTP server: `GET` of a small value from an HTTP lane, next to a
//! bare hyper server answering the same bytes, over keep-alive connections on 127.0.0.1, with
//! one connection and with 64.
//!
//! Run: `cargo bench --bench http`. Without `--bench` (as `cargo test --benches` runs it) it
//! does a smoke run whose figures mean nothing.
//!
//! The servers run on a tokio runtime with one worker thread, the clients on another with one
//! worker (on a 2-core machine each side gets a core), as in `benches/warp_load`. Each client
//! connection sends its requests one after the other (HTTP/1.1 keep-alive, no pipelining) and
//! reads each body. Each setting runs [`RUNS`] times against tidal and the bare server,
//! alternating; the table shows the median rates and the ratio tidal/bare (below 1 is slower).
//! The bare server is hyper's own `http1` connection with a `service_fn` that answers `42` as
//! `application/x-recon`: what tidal answers, without an agent behind it.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use tidal::prelude::*;

/// A meter whose value is read over HTTP.
#[projections]
#[derive(AgentLaneModel)]
pub struct Meter {
    #[item(init = 42)]
    value: ValueLane<i64>,
    api: HttpLane<i64>,
}

#[derive(Clone)]
pub struct MeterLifecycle;

#[lifecycle(Meter)]
impl MeterLifecycle {
    #[on_get(api)]
    fn get(
        &self,
        context: HandlerContext<Meter>,
        _: HttpRequestContext,
    ) -> impl HandlerAction<Meter, Completion = Response<i64>> {
        context.get_value(Meter::VALUE).map(Response::ok)
    }
}

/// Runs of each setting, per server.
const RUNS: usize = 3;

/// Connections, and requests per connection.
struct Setting {
    connections: usize,
    requests: usize,
}

const FULL: [Setting; 2] = [
    Setting {
        connections: 1,
        requests: 20_000,
    },
    Setting {
        connections: 64,
        requests: 1_000,
    },
];

const SMOKE: [Setting; 2] = [
    Setting {
        connections: 1,
        requests: 10,
    },
    Setting {
        connections: 4,
        requests: 5,
    },
];

fn single_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A tidal server with the meter at `/meter`; returns its address and handle.
async fn tidal_server() -> (SocketAddr, ServerHandle) {
    let server = ServerBuilder::with_plane_name("bench")
        .set_bind_addr("127.0.0.1:0")
        .add_route(
            "/meter".parse().expect("a route"),
            AgentModel::new(Meter::default, MeterLifecycle),
        )
        .build()
        .await
        .expect("builds");
    let (task, handle) = server.run();
    tokio::spawn(task);
    let addr = handle.bound_addr().expect("bound");
    (addr, handle)
}

/// A bare hyper server answering `42`; returns its address.
async fn bare_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_| async {
                    let mut response = hyper::Response::new(Full::new(Bytes::from_static(b"42")));
                    response.headers_mut().insert(
                        "content-type",
                        hyper::header::HeaderValue::from_static("application/x-recon"),
                    );
                    Ok::<_, std::convert::Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Requests per second over `setting.connections` connections to `addr`.
async fn load(addr: SocketAddr, setting: &Setting) -> f64 {
    let mut senders = Vec::with_capacity(setting.connections);
    for _ in 0..setting.connections {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        stream.set_nodelay(true).expect("no delay");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("a handshake");
        tokio::spawn(connection);
        senders.push(sender);
    }
    let start = Instant::now();
    let clients = senders.into_iter().map(|mut sender| {
        let requests = setting.requests;
        tokio::spawn(async move {
            for _ in 0..requests {
                let request = hyper::Request::get("/meter?lane=api")
                    .header("host", "127.0.0.1")
                    .body(Empty::<Bytes>::new())
                    .expect("a request");
                sender.ready().await.expect("ready");
                let response = sender.send_request(request).await.expect("an answer");
                assert!(response.status().is_success());
                let body = response.into_body().collect().await.expect("a body");
                assert_eq!(&body.to_bytes()[..], b"42");
            }
        })
    });
    for client in clients.collect::<Vec<_>>() {
        client.await.expect("the client finishes");
    }
    (setting.connections * setting.requests) as f64 / start.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let settings = if std::env::args().any(|arg| arg == "--bench") {
        FULL
    } else {
        SMOKE
    };
    let servers = single_thread_runtime();
    let clients = single_thread_runtime();
    let (tidal, handle) = servers.block_on(tidal_server());
    let bare = servers.block_on(bare_server());
    // Started before the clock runs.
    clients.block_on(load(
        tidal,
        &Setting {
            connections: 1,
            requests: 1,
        },
    ));
    println!("HTTP GET of a small value (requests/s, median of {RUNS} runs):");
    println!("  connections  requests   tidal HTTP lane   bare hyper   tidal/bare");
    for setting in &settings {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            ours.push(clients.block_on(load(tidal, setting)));
            theirs.push(clients.block_on(load(bare, setting)));
        }
        let (ours, theirs) = (median(ours), median(theirs));
        println!(
            "  {:>11}  {:>8}   {ours:>15.0}   {theirs:>10.0}   {:>10.2}",
            setting.connections,
            setting.connections * setting.requests,
            ours / theirs
        );
    }
    handle.stop();
}
