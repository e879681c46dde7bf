//! An HTTP lane on the WARP port: a thermostat whose target temperature is read and set over
//! plain HTTP, while WARP clients can link to the same agent on the same port.
//!
//! `/thermostat/:id` ([`Thermostat`]) keeps its `target` in a value lane; its HTTP lane `api`
//! answers `GET` with the target, `PUT` sets it (`400` if the body is not a number), and has no
//! `POST` (`405`, with `Allow: GET, HEAD, PUT`).
//!
//! `main` starts a server on an ephemeral port of 127.0.0.1, talks to the lane with hyper's
//! HTTP/1.1 client over one keep-alive connection, printing each exchange, and stops. With the
//! server running (`cargo run --example warp_server` serves no HTTP lane; adapt this one with a
//! fixed port), the same works with curl:
//!
//! ```sh
//! curl -s 'http://127.0.0.1:9002/thermostat/hall?lane=api'
//! curl -s -X PUT -H 'content-type: application/json' -d 21.5 'http://127.0.0.1:9002/thermostat/hall?lane=api'
//! ```
//!
//! Run: `cargo run --example http_lane`

#[path = "support/logging.rs"]
mod logging;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper_util::rt::TokioIo;
use tidal::prelude::*;

/// A thermostat and its target temperature.
#[projections]
#[derive(AgentLaneModel)]
pub struct Thermostat {
    /// The target, in °C.
    #[item(init = 20.0)]
    target: ValueLane<f64>,
    /// The target over HTTP.
    api: SimpleHttpLane<f64>,
}

#[derive(Clone)]
pub struct ThermostatLifecycle;

#[lifecycle(Thermostat)]
impl ThermostatLifecycle {
    #[on_get(api)]
    fn get(
        &self,
        context: HandlerContext<Thermostat>,
        _: HttpRequestContext,
    ) -> impl HandlerAction<Thermostat, Completion = Response<f64>> {
        context.get_value(Thermostat::TARGET).map(Response::ok)
    }

    #[on_put(api)]
    fn set(
        &self,
        context: HandlerContext<Thermostat>,
        _: HttpRequestContext,
        target: f64,
    ) -> impl HandlerAction<Thermostat, Completion = UnitResponse> {
        context
            .set_value(Thermostat::TARGET, target)
            .followed_by(context.value(UnitResponse::default()))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::init();
    let server = ServerBuilder::with_plane_name("http")
        .set_bind_addr("127.0.0.1:0")
        .add_route(
            RoutePattern::parse_str("/thermostat/:id")?,
            AgentModel::new(Thermostat::default, ThermostatLifecycle),
        )
        .build()
        .await?;
    let (task, handle) = server.run();
    let task = tokio::spawn(task);
    let addr = handle.bound_addr().ok_or("the server listens")?;

    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut client, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let uri = "/thermostat/hall?lane=api";
    for (method, content_type, body) in [
        (Method::GET, "application/x-recon", ""),
        (Method::PUT, "application/json", "21.5"),
        (Method::GET, "application/x-recon", ""),
        (Method::PUT, "application/json", "\"warm\""),
        (Method::POST, "application/x-recon", "19"),
    ] {
        let request = hyper::Request::builder()
            .method(method.clone())
            .uri(uri)
            .header("host", addr.to_string())
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))?;
        client.ready().await?;
        let response = client.send_request(request).await?;
        let status = response.status();
        let allow = response
            .headers()
            .get("allow")
            .map(|allow| format!(" (Allow: {})", allow.to_str().unwrap_or("?")))
            .unwrap_or_default();
        let answer = response.into_body().collect().await?.to_bytes();
        println!(
            "{method} {uri} {body} -> {status}{allow} {}",
            String::from_utf8_lossy(&answer)
        );
    }

    handle.stop();
    task.await??;
    Ok(())
}
