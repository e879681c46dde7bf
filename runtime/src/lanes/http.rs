//! HTTP lanes: a lane that answers HTTP requests, served on the server's WARP port.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::item::{refuses_commands, stateless_item};
use super::{AgentItem, HttpExchange, HttpResponse, LinkSubscriber, UnlinkReason};

/// A lane that answers HTTP requests: `GET` (and `HEAD`) with a `Get`, `POST` with a `Post`
/// body, `PUT` with a `Put` body, and `DELETE`, each through its lifecycle handler
/// (`#[on_get]`, `#[on_post]`, `#[on_put]`, `#[on_delete]`).
///
/// The server serves it at `http://host:port/<node>?lane=<name>` on its WARP port. Bodies are
/// Recon (`application/x-recon`, the default) or JSON (`application/json`), both through
/// serde; a response takes the format the request's `Accept` prefers. A method the lane has
/// no handler for gets `405` with `Allow`. It holds no state and cannot be linked.
pub struct HttpLane<Get, Post = Get, Put = Post> {
    id: u64,
    /// The request being answered.
    pending: RefCell<Option<Box<HttpExchange>>>,
    /// The request answered in this turn and its response, sent once the turn is published.
    answered: RefCell<Option<(Box<HttpExchange>, HttpResponse)>>,
    _types: PhantomData<fn(Post, Put) -> Get>,
}

/// An HTTP lane whose `GET`, `POST` and `PUT` bodies are all `T`.
pub type SimpleHttpLane<T> = HttpLane<T, T, T>;

impl<Get, Post, Put> HttpLane<Get, Post, Put> {
    /// A lane with the given id.
    pub fn new(id: u64) -> Self {
        HttpLane {
            id,
            pending: RefCell::new(None),
            answered: RefCell::new(None),
            _types: PhantomData,
        }
    }
}

impl<Get, Post, Put> fmt::Debug for HttpLane<Get, Post, Put> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpLane").field("id", &self.id).finish()
    }
}

/// HTTP lanes: what `#[on_get]`, `#[on_post]`, `#[on_put]` and `#[on_delete]` work with.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an HTTP lane",
    label = "expected an `HttpLane<Get, Post, Put>` or `SimpleHttpLane<T>` here",
    note = "`#[on_get]`, `#[on_post]`, `#[on_put]` and `#[on_delete]` work with HTTP lanes"
)]
pub trait HttpLikeItem: AgentItem {
    /// What `GET` answers.
    type Get: Serialize;
    /// What `POST` takes.
    type Post: DeserializeOwned;
    /// What `PUT` takes.
    type Put: DeserializeOwned;

    /// Takes the request being answered.
    fn take_request(&self) -> Option<Box<HttpExchange>>;

    /// Answers the request with `response` once the turn is published: after its commit, if
    /// the agent has a store (an answer acknowledges what the handler changed).
    fn answer(&self, exchange: Box<HttpExchange>, response: HttpResponse);
}

impl<Get, Post, Put> HttpLikeItem for HttpLane<Get, Post, Put>
where
    Get: Serialize + Send + 'static,
    Post: DeserializeOwned + Send + 'static,
    Put: DeserializeOwned + Send + 'static,
{
    type Get = Get;
    type Post = Post;
    type Put = Put;

    fn take_request(&self) -> Option<Box<HttpExchange>> {
        self.pending.borrow_mut().take()
    }

    fn answer(&self, exchange: Box<HttpExchange>, response: HttpResponse) {
        *self.answered.borrow_mut() = Some((exchange, response));
    }
}

stateless_item!(impl[Get, Post, Put] HttpLane<Get, Post, Put>: HttpLane where Get: Serialize + Send + 'static,
    Post: DeserializeOwned + Send + 'static,
    Put: DeserializeOwned + Send + 'static);

impl<Get, Post, Put> AgentItem for HttpLane<Get, Post, Put>
where
    Get: Serialize + Send + 'static,
    Post: DeserializeOwned + Send + 'static,
    Put: DeserializeOwned + Send + 'static,
{
    fn id(&self) -> u64 {
        self.id
    }

    refuses_commands!("an HTTP lane takes no commands: send it HTTP requests");

    fn http(&self, exchange: Box<HttpExchange>) -> Result<(), Box<HttpExchange>> {
        // The agent answers one request per event: this one is answered before the next.
        *self.pending.borrow_mut() = Some(exchange);
        Ok(())
    }

    fn flush(&self) {
        if let Some((exchange, response)) = self.answered.borrow_mut().take() {
            exchange.send(response);
        }
        // No handler took the request: the lifecycle has none for this lane.
        if let Some(exchange) = self.pending.borrow_mut().take() {
            exchange.not_allowed("");
        }
    }

    fn link(&self, subscriber: LinkSubscriber) {
        subscriber.refuse(UnlinkReason::KindMismatch {
            lane: "HTTP lane",
            expected: "lane that can be linked",
        });
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
