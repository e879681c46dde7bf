//! Log lanes: an agent's own `tracing` events, by level, to the subscribers of its meta
//! node's `traceLog` ... `failLog` lanes, as `@<level>(time:<ms>,node:"..",lane:"..")
//! "message"`.
//!
//! Agents of a server with introspection run under [`LogTap`], a `tracing` subscriber that
//! hands every call to the subscriber that was the default when the server was built, and
//! copies the events of the agent being polled to its [`AgentLogs`]. Events with a `fail`
//! field (the agent stops on a failure) go to `failLog`, others to their level's lane.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span;
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Level, Metadata, Subscriber};

use super::{LogLevel, ValueFeed};
use crate::lanes::{ItemKind, LinkSubscriber};
use crate::lock::lock;
use crate::recon::Value;

/// The log lanes of one agent.
pub(crate) struct AgentLogs {
    node: String,
    /// The levels with subscribers, one bit per [`LogLevel::index`].
    wanted: AtomicU8,
    feeds: Mutex<[ValueFeed; 6]>,
}

impl AgentLogs {
    pub(crate) fn new(node: &str) -> Arc<Self> {
        Arc::new(AgentLogs {
            node: node.to_owned(),
            wanted: AtomicU8::new(0),
            feeds: Mutex::new(Default::default()),
        })
    }

    /// Links `subscriber` to the log lane of `level`.
    pub(crate) fn link(&self, level: LogLevel, subscriber: LinkSubscriber) {
        let mut feeds = lock(&self.feeds);
        feeds[level.index()].link(subscriber, level.lane(), ItemKind::SupplyLane, None);
        self.update_wanted(&mut feeds);
    }

    /// Closes the link `id` to the log lane of `level`.
    pub(crate) fn unlink(&self, level: LogLevel, id: u64) {
        let mut feeds = lock(&self.feeds);
        feeds[level.index()].unlink(id);
        self.update_wanted(&mut feeds);
    }

    fn wants(&self, level: LogLevel) -> bool {
        self.wanted.load(Ordering::Relaxed) & (1 << level.index()) != 0
    }

    fn update_wanted(&self, feeds: &mut [ValueFeed; 6]) {
        let mut wanted = 0;
        for (index, feed) in feeds.iter_mut().enumerate() {
            if !feed.is_empty() {
                wanted |= 1 << index;
            }
        }
        self.wanted.store(wanted, Ordering::Relaxed);
    }

    /// Sends `event` to the subscribers of its lane.
    fn publish(&self, level: LogLevel, event: &Event<'_>) {
        // A subscriber that logs while it is being sent an entry gets no second one.
        let Ok(mut feeds) = self.feeds.try_lock() else {
            return;
        };
        let mut entry = Entry::default();
        event.record(&mut entry);
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        let mut header = vec![
            (Value::text("time"), Value::from_u64(time)),
            (Value::text("node"), Value::text(&self.node)),
        ];
        if let Some(lane) = entry.lane {
            header.push((Value::text("lane"), Value::text(lane)));
        }
        let name = level.lane().trim_end_matches("Log");
        let value = Value::of_attr_with(name, Value::of_slots(header));
        let value = match value {
            Value::Record(mut record) => {
                record.push_item(Value::text(entry.message));
                Value::Record(record)
            }
            other => other,
        };
        feeds[level.index()].publish(value);
        self.update_wanted(&mut feeds);
    }
}

/// The message of an event (its `message` field, then the other fields as `name=value`), and
/// its `lane` field.
#[derive(Default)]
struct Entry {
    message: String,
    lane: Option<String>,
}

impl Visit for Entry {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "lane" {
            self.lane = Some(value.to_owned());
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => {
                let rest = std::mem::take(&mut self.message);
                let _ = write!(self.message, "{value:?}{rest}");
            }
            "lane" => self.lane = Some(format!("{value:?}").trim_matches('"').to_owned()),
            "fail" | "node" => {}
            name => {
                let _ = write!(self.message, " {name}={value:?}");
            }
        }
    }
}

thread_local! {
    /// The log lanes of the agent being polled on this thread.
    static CURRENT: RefCell<Option<Arc<AgentLogs>>> = const { RefCell::new(None) };
}

/// The level of an event for the log lanes.
fn level_of(metadata: &Metadata<'_>) -> LogLevel {
    if metadata.fields().field("fail").is_some() {
        return LogLevel::Fail;
    }
    match *metadata.level() {
        Level::TRACE => LogLevel::Trace,
        Level::DEBUG => LogLevel::Debug,
        Level::INFO => LogLevel::Info,
        Level::WARN => LogLevel::Warn,
        Level::ERROR => LogLevel::Error,
    }
}

/// Whether the agent being polled wants events like `metadata`.
fn wanted(metadata: &Metadata<'_>) -> bool {
    metadata.is_event()
        && CURRENT.with(|current| {
            current
                .borrow()
                .as_ref()
                .is_some_and(|logs| logs.wants(level_of(metadata)))
        })
}

/// The `tracing` subscriber agents run under when their server has introspection (see the
/// module docs).
pub(crate) struct LogTap {
    inner: Dispatch,
}

impl LogTap {
    /// A tap in front of the current default subscriber.
    pub(crate) fn dispatch() -> Dispatch {
        let inner = tracing::dispatcher::get_default(Dispatch::clone);
        Dispatch::new(LogTap { inner })
    }
}

impl Subscriber for LogTap {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        let inner = self.inner.register_callsite(metadata);
        if metadata.is_event() && inner.is_never() {
            // A log lane may want it, later.
            return Interest::sometimes();
        }
        inner
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata) || wanted(metadata)
    }

    fn new_span(&self, span: &span::Attributes<'_>) -> span::Id {
        self.inner.new_span(span)
    }

    fn record(&self, span: &span::Id, values: &span::Record<'_>) {
        self.inner.record(span, values);
    }

    fn record_follows_from(&self, span: &span::Id, follows: &span::Id) {
        self.inner.record_follows_from(span, follows);
    }

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        if self.inner.enabled(metadata) {
            self.inner.event(event);
        }
        CURRENT.with(|current| {
            if let Some(logs) = current.borrow().as_ref() {
                let level = level_of(metadata);
                if logs.wants(level) {
                    logs.publish(level, event);
                }
            }
        });
    }

    fn enter(&self, span: &span::Id) {
        self.inner.enter(span);
    }

    fn exit(&self, span: &span::Id) {
        self.inner.exit(span);
    }

    fn clone_span(&self, id: &span::Id) -> span::Id {
        self.inner.clone_span(id)
    }

    fn try_close(&self, id: span::Id) -> bool {
        self.inner.try_close(id)
    }

    fn current_span(&self) -> tracing_core::span::Current {
        self.inner.current_span()
    }
}

/// An agent's task, polled under the server's [`LogTap`] with the agent's log lanes as the
/// current ones.
pub(crate) struct Logged<F> {
    task: Pin<Box<F>>,
    logs: Arc<AgentLogs>,
    dispatch: Dispatch,
}

impl<F> Logged<F> {
    pub(crate) fn new(task: F, logs: Arc<AgentLogs>, dispatch: Dispatch) -> Self {
        Logged {
            task: Box::pin(task),
            logs,
            dispatch,
        }
    }
}

impl<F: Future> Future for Logged<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let previous = CURRENT.with(|current| current.replace(Some(this.logs.clone())));
        let task = this.task.as_mut();
        let polled = tracing::dispatcher::with_default(&this.dispatch, || task.poll(cx));
        CURRENT.with(|current| *current.borrow_mut() = previous);
        polled
    }
}
