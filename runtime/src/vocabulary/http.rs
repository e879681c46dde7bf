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

    /// The format a response takes for a request with this `Accept` header (RFC 9110
    /// §12.5.1): the one with the higher quality (`q`, 1 if not given), each format rated by the
    /// most specific range that matches it (`application/json` before `application/*` before
    /// `*/*`); of two equally rated, the one whose range comes first. Recon when the header is
    /// absent or accepts neither.
    ///
    /// ```
    /// use tidal_runtime::lanes::BodyFormat;
    ///
    /// let format = BodyFormat::from_accept(Some("application/x-recon;q=0.1, application/json"));
    /// assert_eq!(format, BodyFormat::Json);
    /// assert_eq!(BodyFormat::from_accept(Some("application/json;q=0")), BodyFormat::Recon);
    /// ```
    pub fn from_accept(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return BodyFormat::Recon;
        };
        // Per format: (quality in thousandths, specificity, position) of its best range.
        let mut rated: [Option<(u16, u8, usize)>; 2] = [None, None];
        for (position, range) in accept.split(',').enumerate() {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|parameter| parameter.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .map_or(1000, |(_, q)| quality(q.trim()));
            let matches: &[(usize, u8)] = match essence.as_str() {
                "application/json" => &[(1, 2)],
                "application/x-recon" | "text/x-recon" => &[(0, 2)],
                "application/*" => &[(0, 1), (1, 1)],
                "*/*" => &[(0, 0), (1, 0)],
                _ => &[],
            };
            for &(format, specificity) in matches {
                let better = rated[format].is_none_or(|(_, best, _)| specificity > best);
                if better {
                    rated[format] = Some((quality, specificity, position));
                }
            }
        }
        let score = |rating: Option<(u16, u8, usize)>| {
            rating
                .filter(|(quality, _, _)| *quality > 0)
                .map(|(quality, _, position)| (quality, std::cmp::Reverse(position)))
        };
        match (score(rated[0]), score(rated[1])) {
            (recon, Some(json)) if recon.is_none_or(|recon| json > recon) => BodyFormat::Json,
            _ => BodyFormat::Recon,
        }
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

    /// A handler's response as it goes to the client, its body (if any) encoded in the
    /// response format (`500` if it does not encode).
    pub(crate) fn response<T: Serialize>(
        &self,
        response: Response<T>,
        with_body: bool,
    ) -> HttpResponse {
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
                    return HttpResponse::error(StatusCode::INTERNAL_SERVER_ERROR, message);
                }
            }
        } else {
            Vec::new()
        };
        HttpResponse {
            status,
            headers,
            body,
        }
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

    /// Sends `response` to the client.
    pub(crate) fn send(self, response: HttpResponse) {
        // The client may be gone; then nobody needs the response.
        let _ = self.reply.send(response);
    }
}

/// A quality value (`q=0.5`) in thousandths; malformed ones count as 0 (not acceptable).
fn quality(text: &str) -> u16 {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if !matches!(whole, "0" | "1")
        || fraction.len() > 3
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return 0;
    }
    let fraction: u16 = format!("{fraction:0<3}").parse().unwrap_or(0);
    if whole == "1" {
        return if fraction == 0 { 1000 } else { 0 };
    }
    fraction
}

#[cfg(test)]
mod tests {
    use super::BodyFormat::{self, Json, Recon};

    #[test]
    fn the_accepted_format_of_higher_quality_wins_and_order_breaks_ties() {
        for (accept, format) in [
            (None, Recon),
            (Some("application/json"), Json),
            (Some("application/json, application/x-recon"), Json),
            (Some("application/x-recon, application/json"), Recon),
            (Some("application/x-recon;q=0.1, application/json"), Json),
            (
                Some("application/json;q=0.5, application/x-recon;q=0.9"),
                Recon,
            ),
            (Some("application/json;q=0, */*"), Recon),
            (Some("text/html, */*;q=0.1"), Recon),
            (Some("application/*;q=0.5, application/x-recon;q=0.2"), Json),
            (Some("application/json; Q=1.000"), Json),
            (
                Some("application/json;q=abc, application/x-recon;q=0.01"),
                Recon,
            ),
            (Some("application/json;q=1.5"), Recon),
            (Some("text/html"), Recon),
        ] {
            assert_eq!(BodyFormat::from_accept(accept), format, "{accept:?}");
        }
    }
}
