//! Dialing a host: the WebSocket handshake (with or without `warp0`, over TLS for `wss://`)
//! and the jitter that spreads the retries of many clients.

use std::time::Duration;

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{ProtocolError, SubProtocolError};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::Connector;

use super::Socket;

/// What a connection presents to the host on the WebSocket upgrade.
#[derive(Debug, Clone, Default)]
pub(super) struct Headers {
    /// Presented as `Authorization: Bearer <token>`.
    pub(super) token: Option<String>,
    /// The plane this server is a member of, as `x-tidal-plane` (see
    /// [`PLANE_HEADER`](crate::remote::PLANE_HEADER)).
    pub(super) plane: Option<String>,
}

/// Opens the WebSocket to `url`, offering the `warp0` subprotocol; `tls` secures `wss://`,
/// and `headers` go with the upgrade. A server that names no subprotocol in its reply (some
/// WARP servers do not) is connected to again without the offer.
pub(super) async fn connect(
    url: String,
    tls: Option<Connector>,
    headers: Headers,
) -> Result<Socket, WsError> {
    match handshake(&url, tls.clone(), &headers, true).await {
        Err(WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(
            SubProtocolError::NoSubProtocol,
        ))) => handshake(&url, tls, &headers, false).await,
        connected => connected,
    }
}

pub(super) async fn handshake(
    url: &str,
    tls: Option<Connector>,
    headers: &Headers,
    offer_warp0: bool,
) -> Result<Socket, WsError> {
    let mut request = url.into_client_request()?;
    if offer_warp0 {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static("warp0"));
    }
    let invalid = |err: tokio_tungstenite::tungstenite::http::header::InvalidHeaderValue| {
        WsError::HttpFormat(err.into())
    };
    if let Some(token) = &headers.token {
        let value = HeaderValue::try_from(format!("Bearer {token}")).map_err(invalid)?;
        request.headers_mut().insert("authorization", value);
    }
    request
        .headers_mut()
        .insert(crate::remote::KINDS_HEADER, HeaderValue::from_static("1"));
    if let Some(plane) = &headers.plane {
        let value = HeaderValue::try_from(plane.as_str()).map_err(invalid)?;
        request
            .headers_mut()
            .insert(crate::remote::PLANE_HEADER, value);
    }
    let (socket, _) =
        tokio_tungstenite::connect_async_tls_with_config(request, None, true, tls).await?;
    Ok(socket)
}

/// A small xorshift generator spreading retry delays over [50%, 100%] of their nominal value,
/// so that many clients of a failed host do not all retry at once.
pub(super) struct Jitter(u64);

impl Jitter {
    pub(super) fn new(seed: &str) -> Self {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for byte in seed.bytes() {
            state = (state ^ u64::from(byte)).wrapping_mul(0x1000_0000_01B3);
        }
        state ^= std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos().into());
        Jitter(state | 1)
    }

    pub(super) fn apply(&mut self, delay: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let fraction = 0.5 + (self.0 % 1000) as f64 / 2000.0;
        delay.mul_f64(fraction)
    }
}
