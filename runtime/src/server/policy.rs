//! Who may connect, and what each client may do: the server's [`Policy`].
//!
//! A policy sees each connection's request before the WebSocket opens (or before an HTTP
//! lane answers) and admits it with an identity, anonymously, or refuses it (`401`/`403`).
//! On an open connection, `@auth` envelopes carry credentials: the policy answers `@authed`
//! or `@deauthed`, and `@deauth` drops the identity. Then, per link, sync, command and HTTP
//! request, it decides for (identity, node, lane): a denied link gets
//! `@unlinked(..)@forbidden` (a record with a tag, which the SwimOS clients treat as an
//! unlink), a denied command is dropped and counted, and nothing of a denied lane is sent.
//!
//! Access follows identity: whenever a connection's identity changes (`@auth` as someone else,
//! `@deauth`, an [`Identity`] that expires), every open link of the connection is authorized
//! again, and those no longer allowed end with `@unlinked(..)@forbidden` before another event
//! of their lane is sent. HTTP requests are admitted and authorized one by one, also on a
//! connection kept alive; an expired identity is refused with `401`, and every `401` says how
//! to authenticate (`WWW-Authenticate`, see [`Policy::challenge`]).
//!
//! The default, [`AllowAll`], changes nothing. Ready-made: [`BearerTokens`] (a static token
//! table, with what anonymous clients may do) and [`ReadOnlyForAnonymous`].

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use crate::recon::Value;
pub use crate::vocabulary::Identity;
use crate::vocabulary::{HeaderMap, Method, StatusCode, Uri};

/// What a client asks to do with a lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `@link`: hear the lane's changes.
    Link,
    /// `@sync`: the lane's state, then its changes.
    Sync,
    /// `@command`: change the lane.
    Command,
    /// An HTTP request to an HTTP lane, with its method.
    Http(Method),
}

impl Action {
    /// Whether the action only reads (links, syncs, `GET`, `HEAD`).
    pub fn is_read(&self) -> bool {
        match self {
            Action::Link | Action::Sync => true,
            Action::Command => false,
            Action::Http(method) => *method == Method::GET || *method == Method::HEAD,
        }
    }
}

/// A connection's request, as the policy sees it before admitting it.
#[derive(Debug)]
pub struct ConnectRequest<'a> {
    pub(crate) peer: SocketAddr,
    pub(crate) uri: &'a Uri,
    pub(crate) headers: &'a HeaderMap,
}

impl ConnectRequest<'_> {
    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The request's URI (path and query).
    pub fn uri(&self) -> &Uri {
        self.uri
    }

    /// The request's headers (`Authorization`, `Cookie`...).
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }

    /// The token of an `Authorization: Bearer <token>` header.
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self
            .headers
            .get(http::header::AUTHORIZATION)?
            .to_str()
            .ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }
}

/// What a policy decides about a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Let it in, as this identity (`None`: anonymous).
    Allow(Option<Identity>),
    /// Refuse it with this status (`401` or `403`) and reason, before the WebSocket opens.
    Refuse(StatusCode, String),
}

/// A future a policy returns.
pub type PolicyFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Decides who may connect to a server and what each client may do (see the module docs).
/// Every method has a default that allows, so a policy overrides only what it checks.
///
/// ```
/// use tidal_runtime::server::{Action, Identity, Policy};
///
/// /// Nobody may touch the lane `secret`.
/// struct NoSecrets;
///
/// impl Policy for NoSecrets {
///     fn authorize(&self, _: Option<&Identity>, _: &Action, _: &str, lane: &str) -> bool {
///         lane != "secret"
///     }
/// }
/// ```
pub trait Policy: Send + Sync + 'static {
    /// Whether the connection (a WebSocket upgrade or an HTTP request) may come in, and as
    /// whom. The default admits everyone anonymously.
    fn admit<'a>(&'a self, request: &'a ConnectRequest<'a>) -> PolicyFuture<'a, Admission> {
        let _ = request;
        Box::pin(std::future::ready(Admission::Allow(None)))
    }

    /// The challenge every `401` answer carries in its `WWW-Authenticate` header (RFC 9110
    /// §11.6.1: a `401` must say how to authenticate). The default, `Bearer realm="tidal"`,
    /// fits bearer tokens (RFC 6750); a policy that takes other credentials says which.
    fn challenge(&self) -> String {
        "Bearer realm=\"tidal\"".to_owned()
    }

    /// Whether the policy takes `@auth` credentials. If not (the default), `@auth` and
    /// `@deauth` are ignored, as a SwimOS server without authentication does.
    fn uses_auth(&self) -> bool {
        false
    }

    /// Whether an anonymous connection must identify itself with `@auth` within
    /// [`EndpointConfig::auth_timeout`](super::EndpointConfig::auth_timeout) of opening, or be
    /// closed (code 1008): for clients that cannot set headers on the upgrade (the SwimOS
    /// clients), without leaving the door open to idle anonymous connections. The default is
    /// `false`.
    fn requires_auth(&self) -> bool {
        false
    }

    /// The identity that `@auth` credentials establish on an open connection, or `None` to
    /// refuse them (`@deauthed`). Called only if [`uses_auth`](Self::uses_auth); the default
    /// refuses all.
    fn authenticate<'a>(&'a self, credentials: &'a Value) -> PolicyFuture<'a, Option<Identity>> {
        let _ = credentials;
        Box::pin(std::future::ready(None))
    }

    /// Whether `identity` (`None`: anonymous) may do `action` with `lane` of `node`. Called
    /// for every link, sync, command and HTTP request: keep it fast. The default allows.
    fn authorize(
        &self,
        identity: Option<&Identity>,
        action: &Action,
        node: &str,
        lane: &str,
    ) -> bool {
        let _ = (identity, action, node, lane);
        true
    }
}

/// Everyone may do everything: the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Policy for AllowAll {}

/// Anonymous clients may link and sync (and `GET`), but not command; identified ones may do
/// everything. Pair it with a policy that identifies clients, or use [`BearerTokens`] with
/// [`Anonymous::ReadOnly`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOnlyForAnonymous;

impl Policy for ReadOnlyForAnonymous {
    fn authorize(&self, identity: Option<&Identity>, action: &Action, _: &str, _: &str) -> bool {
        identity.is_some() || action.is_read()
    }
}

/// What clients without a token may do under [`BearerTokens`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Anonymous {
    /// Nothing: they are refused with `401` before the WebSocket opens (the default).
    #[default]
    Refused,
    /// Link and sync (and `GET`), not command.
    ReadOnly,
    /// Connect, but do nothing until they present a token with `@auth`, which they must do
    /// within [`EndpointConfig::auth_timeout`](super::EndpointConfig::auth_timeout) (for the
    /// SwimOS clients, which cannot set headers on the upgrade).
    MustAuthenticate,
}

/// A static table of bearer tokens, each for an identity: presented as `Authorization: Bearer
/// <token>` on the upgrade (or the HTTP request), or in `@auth` as the text `"<token>"` or
/// the record `{token: "<token>"}`. A wrong token is refused (`401`, or `@deauthed`).
/// Identified clients may do everything; anonymous ones what [`Anonymous`] says.
///
/// ```
/// use tidal_runtime::server::{Anonymous, BearerTokens};
///
/// let policy = BearerTokens::new([("s3cret", "alice")]).anonymous(Anonymous::ReadOnly);
/// # let _ = policy;
/// ```
#[derive(Debug, Clone)]
pub struct BearerTokens {
    tokens: HashMap<String, Identity>,
    anonymous: Anonymous,
}

impl BearerTokens {
    /// The table: each token and the name of its identity.
    pub fn new<T: Into<String>, N: Into<String>>(tokens: impl IntoIterator<Item = (T, N)>) -> Self {
        BearerTokens {
            tokens: tokens
                .into_iter()
                .map(|(token, name)| (token.into(), Identity::new(name)))
                .collect(),
            anonymous: Anonymous::default(),
        }
    }

    /// What clients without a token may do.
    pub fn anonymous(mut self, anonymous: Anonymous) -> Self {
        self.anonymous = anonymous;
        self
    }
}

impl Policy for BearerTokens {
    fn uses_auth(&self) -> bool {
        true
    }

    fn requires_auth(&self) -> bool {
        self.anonymous == Anonymous::MustAuthenticate
    }

    fn admit<'a>(&'a self, request: &'a ConnectRequest<'a>) -> PolicyFuture<'a, Admission> {
        let admission = match request.bearer_token() {
            Some(token) => match self.tokens.get(token) {
                Some(identity) => Admission::Allow(Some(identity.clone())),
                None => Admission::Refuse(StatusCode::UNAUTHORIZED, "unknown token".to_owned()),
            },
            None if self.anonymous == Anonymous::Refused => Admission::Refuse(
                StatusCode::UNAUTHORIZED,
                "a bearer token is required".to_owned(),
            ),
            None => Admission::Allow(None),
        };
        Box::pin(std::future::ready(admission))
    }

    fn authenticate<'a>(&'a self, credentials: &'a Value) -> PolicyFuture<'a, Option<Identity>> {
        let token = credentials
            .as_text()
            .or_else(|| credentials.get("token").and_then(Value::as_text));
        let identity = token.and_then(|token| self.tokens.get(token)).cloned();
        Box::pin(std::future::ready(identity))
    }

    fn authorize(&self, identity: Option<&Identity>, action: &Action, _: &str, _: &str) -> bool {
        identity.is_some() || (self.anonymous == Anonymous::ReadOnly && action.is_read())
    }
}
