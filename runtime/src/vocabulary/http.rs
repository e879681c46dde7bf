//! HTTP exchanges with HTTP lanes: the request a lane's handlers see, the response they give,
//! and the body formats both travel in.

use std::borrow::Cow;
use std::fmt;

pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;

/// How a body is encoded: Recon (`application/x-recon`, the default) or JSON
/// (`application/json`), both through serde.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// Recon text.
    Recon,
    /// JSON.
    Json,
}

impl BodyFormat {
    /// The media type of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            BodyFormat::Recon => "application/x-recon",
            BodyFormat::Json => "application/json",
        }
    }

    /// The format of a request body with this `Content-Type` (none: Recon); `None` for a type
    /// neither format reads.
    pub fn from_content_type(content_type: Option<&str>) -> Option<Self> {
        let Some(content_type) = content_type else {
            return Some(BodyFormat::Recon);
        };
        let essence = content_type.split(';').next().unwrap_or("").trim();
        match essence.to_ascii_lowercase().as_str() {
            "application/x-recon" | "text/x-recon" | "text/plain" => Some(BodyFormat::Recon),
            "application/json" => Some(BodyFormat::Json),
            _ => None,
        }
    }

    /// The format a response takes for a request with this `Accept` header: JSON when the
    /// client prefers it (it comes before Recon, or Recon is absent), Recon otherwise.
    pub fn from_accept(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return BodyFormat::Recon;
        };
        for range in accept.split(',') {
            let essence = range
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            match essence.as_str() {
                "application/json" => return BodyFormat::Json,
                "application/x-recon" | "text/x-recon" | "*/*" | "application/*" => {
                    return BodyFormat::Recon
                }
                _ => {}
            }
        }
        BodyFormat::Recon
    }

    /// Decodes a body.
    ///
    /// # Errors
    /// Why it is not a `T` in this format.
    pub fn decode<T: DeserializeOwned>(self, body: &[u8]) -> Result<T, String> {
        let describe = |err: &dyn fmt::Display| {
            format!(
                "the body is not a `{}` in {}: {err}",
                std::any::type_name::<T>(),
                self.name()
            )
        };
        match self {
            BodyFormat::Json => serde_json::from_slice(body).map_err(|err| describe(&err)),
            BodyFormat::Recon => {
                let text = std::str::from_utf8(body).map_err(|err| describe(&err))?;
                crate::recon::from_str(text).map_err(|err| describe(&err))
            }
        }
    }

    /// Encodes a body.
    ///
    /// # Errors
    /// The value's `Serialize` implementation failed.
    pub fn encode<T: Serialize>(self, value: &T) -> Result<Vec<u8>, String> {
        match self {
            BodyFormat::Json => serde_json::to_vec(value).map_err(|err| err.to_string()),
            BodyFormat::Recon => crate::recon::to_string(value)
                .map(String::into_bytes)
                .map_err(|err| err.to_string()),
        }
    }

    fn name(self) -> &'static str {
        match self {
            BodyFormat::Recon => "Recon",
            BodyFormat::Json => "JSON",
        }
    }
}

/// What an HTTP lane's handlers know of a request: its method, URI and headers.
#[derive(Debug, Clone)]
pub struct HttpRequestContext {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl HttpRequestContext {
    /// A request context (the server makes them; tests too).
    pub fn new(method: Method, uri: Uri, headers: HeaderMap) -> Self {
        HttpRequestContext {
            method,
            uri,
            headers,
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URI, as the client sent it (path and query).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The query's parameters, percent-decoded (`+` is a space), in order.
    pub fn query(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
        self.uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode_query(name), decode_query(value))
            })
    }

    /// The first value of the query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

fn decode_query(text: &str) -> Cow<'_, str> {
    if !text.contains(['%', '+']) {
        return Cow::Borrowed(text);
    }
    let spaced = text.replace('+', " ");
    Cow::Owned(
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// What an HTTP lane's handler answers: a status (200 unless set), headers, and a body (for
/// `GET`; `()` for the others).
///
/// ```
/// use tidal_runtime::lanes::{Response, StatusCode};
///
/// let found = Response::ok(42);
/// assert_eq!(found.status_code(), StatusCode::OK);
/// let created = Response::ok(()).with_status(StatusCode::CREATED).with_header("location", "/items/7");
/// assert_eq!(created.headers()["location"], "/items/7");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Response<T> {
    status: StatusCode,
    headers: HeaderMap,
    body: T,
}

/// The response of a handler with no body to send (`POST`, `PUT`, `DELETE`).
pub type UnitResponse = Response<()>;

impl<T> Response<T> {
    /// `200 OK` with `body`.
    pub fn ok(body: T) -> Self {
        Response {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body,
        }
    }

    /// The response with another status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The response with a header added. A name or value that is not valid in HTTP is left
    /// out (and logged).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            _ => tracing::warn!(name, value, "invalid response header left out"),
        }
        self
    }

    /// The status.
    pub fn status_code(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &T {
        &self.body
    }
}

impl Default for UnitResponse {
    /// `200 OK`, no body.
    fn default() -> Self {
        Response::ok(())
    }
}

/// A response on its way to the client, as an HTTP lane gave it (the testing kit returns
/// them).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl HttpResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers (`Content-Type` among them when there is a body).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as text (lossily, if it is not UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// An error with a text body saying why.
    pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        HttpResponse {
            status,
            headers,
            body: message.into().into_bytes(),
        }
    }
}

/// An HTTP request on its way to an HTTP lane, and where its response goes. The server makes
/// them; the lane's handlers answer them.
pub struct HttpExchange {
    pub(crate) context: HttpRequestContext,
    pub(crate) body: Vec<u8>,
    /// The format of the request body.
    pub(crate) body_format: BodyFormat,
    /// The format the response body takes.
    pub(crate) response_format: BodyFormat,
    reply: oneshot::Sender<HttpResponse>,
}

impl fmt::Debug for HttpExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpExchange")
            .field("method", self.context.method())
            .field("uri", self.context.uri())
            .finish_non_exhaustive()
    }
}

impl HttpExchange {
    /// An exchange for a request, and the receiving end of its response.
    pub(crate) fn new(
        context: HttpRequestContext,
        body: Vec<u8>,
        body_format: BodyFormat,
        response_format: BodyFormat,
    ) -> (Self, oneshot::Receiver<HttpResponse>) {
        let (reply, response) = oneshot::channel();
        let exchange = HttpExchange {
            context,
            body,
            body_format,
            response_format,
            reply,
        };
        (exchange, response)
    }

    /// The method of the request.
    pub fn method(&self) -> &Method {
        self.context.method()
    }

    /// Answers with a handler's response, its body (if any) encoded in the response format.
    pub(crate) fn respond<T: Serialize>(self, response: Response<T>, with_body: bool) {
        let Response {
            status,
            mut headers,
            body,
        } = response;
        let body = if with_body {
            match self.response_format.encode(&body) {
                Ok(body) => {
                    headers.insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static(self.response_format.content_type()),
                    );
                    body
                }
                Err(err) => {
                    let message = format!("the response does not encode: {err}");
                    self.send(HttpResponse::error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        message,
                    ));
                    return;
                }
            }
        } else {
            Vec::new()
        };
        self.send(HttpResponse {
            status,
            headers,
            body,
        });
    }

    /// Answers with an error.
    pub(crate) fn fail(self, status: StatusCode, message: impl Into<String>) {
        self.send(HttpResponse::error(status, message));
    }

    /// Answers `405 Method Not Allowed`, saying which methods the lane takes.
    pub(crate) fn not_allowed(self, allow: &str) {
        let mut response = HttpResponse::error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "this lane takes {}",
                if allow.is_empty() { "no method" } else { allow }
            ),
        );
        if let Ok(allow) = HeaderValue::try_from(allow) {
            response.headers.insert(http::header::ALLOW, allow);
        }
        self.send(response);
    }

    fn send(self, response: HttpResponse) {
        // The client may be gone; then nobody needs the response.
        let _ = self.reply.send(response);
    }
}
