//! Handles to downlinks: what a lifecycle keeps to write to a downlink, read it, or stop it.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::Notify;

use super::handlers::Address;
use super::slot::{Pending, Slot};
use crate::environment::Waits;
use crate::environment::{send_command, Environment};
use crate::lanes::{CommandPayload, MapMessage, UnlinkReason};
use crate::lock::lock;
use crate::warp::map_message_to_value;

/// Why a downlink handle could not do what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DownlinkError {
    /// The downlink has stopped (it was stopped, unlinked for good, or its agent stopped).
    #[error("the downlink has stopped")]
    Stopped,
}

/// Where a downlink is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum DownlinkStatus {
    /// Waiting for its link.
    Pending = 0,
    /// Linked to the lane, not yet synchronised.
    Linked = 1,
    /// Linked and synchronised.
    Synced = 2,
    /// Unlinked, about to link again.
    Unlinked = 3,
    /// Stopped for good.
    Stopped = 4,
}

/// State shared by a downlink and its handle.
pub(crate) struct Control {
    status: AtomicU8,
    stop_requested: AtomicBool,
    /// Why the link last closed.
    closed: Mutex<Option<UnlinkReason>>,
}

impl Control {
    pub(crate) fn new() -> Self {
        Control {
            status: AtomicU8::new(DownlinkStatus::Pending as u8),
            stop_requested: AtomicBool::new(false),
            closed: Mutex::new(None),
        }
    }

    /// Records why the link closed (before the downlink's `on_unlinked` or `on_failed` runs).
    pub(crate) fn closed(&self, reason: &UnlinkReason) {
        *lock(&self.closed) = Some(reason.clone());
    }

    pub(crate) fn status(&self) -> DownlinkStatus {
        match self.status.load(Ordering::Acquire) {
            0 => DownlinkStatus::Pending,
            1 => DownlinkStatus::Linked,
            2 => DownlinkStatus::Synced,
            3 => DownlinkStatus::Unlinked,
            _ => DownlinkStatus::Stopped,
        }
    }

    pub(crate) fn set_status(&self, status: DownlinkStatus) {
        self.status.store(status as u8, Ordering::Release);
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.stop_requested.load(Ordering::Acquire)
    }

    /// Asks the downlink to stop, once, waking its agent to do it.
    fn stop(&self, wake: &Arc<dyn Fn() + Send + Sync>) {
        if !self.stop_requested.swap(true, Ordering::AcqRel) {
            wake();
        }
    }

    fn is_stopped(&self) -> bool {
        self.stop_requested() || self.status() == DownlinkStatus::Stopped
    }
}

/// What every handle has: the downlink's status, and a way to ask it to stop. Dropping it (with
/// its handle) stops the downlink.
pub(crate) struct Lifeline {
    control: Arc<Control>,
    wake: Arc<dyn Fn() + Send + Sync>,
}

impl Lifeline {
    pub(crate) fn new<P: Pending + 'static>(control: Arc<Control>, slot: Arc<Slot<P>>) -> Self {
        Lifeline {
            control,
            wake: Arc::new(move || slot.wake()),
        }
    }

    fn stop(&self) {
        self.control.stop(&self.wake);
    }

    fn is_linked(&self) -> bool {
        matches!(
            self.control.status(),
            DownlinkStatus::Linked | DownlinkStatus::Synced
        )
    }

    fn is_stopped(&self) -> bool {
        self.control.is_stopped()
    }

    fn status(&self) -> DownlinkStatus {
        self.control.status()
    }

    fn unlink_reason(&self) -> Option<UnlinkReason> {
        lock(&self.control.closed).clone()
    }
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where a downlink's writes go.
#[derive(Clone)]
pub(crate) struct Target {
    environment: Option<Arc<dyn Environment>>,
    host: Option<String>,
    node: String,
    lane: String,
}

impl Target {
    pub(crate) fn new(environment: Option<Arc<dyn Environment>>, address: &Address) -> Self {
        Target {
            environment,
            host: address.host.clone(),
            node: address.node.clone(),
            lane: address.lane.clone(),
        }
    }
}

/// Writes queued by a handle, sent to the lane in order by a task of their own.
struct Outbox<Q> {
    queue: Mutex<Q>,
    wake: Notify,
    running: AtomicBool,
    closed: AtomicBool,
}

/// What an outbox holds: the latest value, or a queue of map operations.
trait Queue: Default + Send + 'static {
    type Command: Serialize + Send + 'static;
    /// How its writes wait while a remote connection is down.
    const WAITS: Waits = Waits::Every;
    fn next(&mut self) -> Option<Self::Command>;

    /// The command as sent to a local agent, or in WARP form to a remote host.
    fn payload(command: Self::Command, remote: bool) -> CommandPayload {
        let _ = remote;
        CommandPayload::typed(command)
    }
}

/// A value downlink's writes: only the latest value is kept.
struct Latest<T>(Option<T>);

impl<T> Default for Latest<T> {
    fn default() -> Self {
        Latest(None)
    }
}

impl<T: Serialize + Send + 'static> Queue for Latest<T> {
    type Command = T;
    const WAITS: Waits = Waits::Latest;
    fn next(&mut self) -> Option<T> {
        self.0.take()
    }
}

/// A map downlink's writes: every operation, in order.
struct Operations<K, V>(VecDeque<MapMessage<K, V>>);

impl<K, V> Default for Operations<K, V> {
    fn default() -> Self {
        Operations(VecDeque::new())
    }
}

impl<K, V> Queue for Operations<K, V>
where
    K: Serialize + Send + 'static,
    V: Serialize + Send + 'static,
{
    type Command = MapMessage<K, V>;
    fn next(&mut self) -> Option<MapMessage<K, V>> {
        self.0.pop_front()
    }

    fn payload(command: MapMessage<K, V>, remote: bool) -> CommandPayload {
        match remote.then(|| map_message_to_value(&command)) {
            Some(Ok(value)) => CommandPayload::Recon(value),
            _ => CommandPayload::typed(command),
        }
    }
}

/// The writing half of a handle. Dropping it (with its handle) closes it: what is queued is
/// still sent.
struct Writer<Q> {
    outbox: Arc<Outbox<Q>>,
    target: Target,
}

impl<Q: Queue> Writer<Q> {
    fn new(target: Target) -> Self {
        Writer {
            outbox: Arc::new(Outbox {
                queue: Mutex::new(Q::default()),
                wake: Notify::new(),
                running: AtomicBool::new(false),
                closed: AtomicBool::new(false),
            }),
            target,
        }
    }

    /// Queues a write and makes sure the sending task runs.
    fn push(&self, f: impl FnOnce(&mut Q)) -> Result<(), DownlinkError> {
        f(&mut lock(&self.outbox.queue));
        if !self.outbox.running.swap(true, Ordering::AcqRel) {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                tracing::warn!(node = %self.target.node, lane = %self.target.lane, "downlink write outside a tokio runtime dropped");
                return Err(DownlinkError::Stopped);
            };
            runtime.spawn(send_all(self.outbox.clone(), self.target.clone()));
        }
        self.outbox.wake.notify_one();
        Ok(())
    }
}

impl<Q> Writer<Q> {
    /// Formats the handle `name` writing through this writer.
    fn debug(&self, f: &mut fmt::Formatter<'_>, name: &str, lifeline: &Lifeline) -> fmt::Result {
        f.debug_struct(name)
            .field("node", &self.target.node)
            .field("lane", &self.target.lane)
            .field("status", &lifeline.status())
            .finish()
    }

    /// No more writes: the task sends what is queued, then ends.
    fn close(&self) {
        self.outbox.closed.store(true, Ordering::Release);
        self.outbox.wake.notify_one();
    }
}

impl<Q> Drop for Writer<Q> {
    fn drop(&mut self) {
        self.close();
    }
}

async fn send_all<Q: Queue>(outbox: Arc<Outbox<Q>>, target: Target) {
    loop {
        let next = lock(&outbox.queue).next();
        match next {
            Some(command) => {
                let Some(environment) = &target.environment else {
                    tracing::warn!(node = %target.node, lane = %target.lane, "downlink write dropped: the agent is not in a server");
                    continue;
                };
                let payload = Q::payload(command, target.host.is_some());
                let sent = send_command(
                    environment.as_ref(),
                    target.host.as_deref(),
                    &target.node,
                    &target.lane,
                    payload,
                    Q::WAITS,
                )
                .await;
                if let Err(reason) = sent {
                    tracing::warn!(node = %target.node, lane = %target.lane, %reason, "downlink write dropped");
                }
            }
            None if outbox.closed.load(Ordering::Acquire) => break,
            None => outbox.wake.notified().await,
        }
    }
}

/// The state accessors every handle has, over its `lifeline` field.
macro_rules! lifeline_accessors {
    () => {
        /// Whether the downlink is linked (or linked and synced).
        pub fn is_linked(&self) -> bool {
            self.lifeline.is_linked()
        }

        /// Whether the downlink has stopped.
        pub fn is_stopped(&self) -> bool {
            self.lifeline.is_stopped()
        }

        /// Where the downlink is in its life.
        pub fn status(&self) -> DownlinkStatus {
            self.lifeline.status()
        }

        /// Why the link last closed, once it has: read it in `on_unlinked` or `on_failed`
        /// (through the handle kept in the lifecycle's state) to tell a server that stops from
        /// a node that does not exist (see [`UnlinkReason::is_final`]).
        pub fn unlink_reason(&self) -> Option<UnlinkReason> {
            self.lifeline.unlink_reason()
        }
    };
}

/// A handle to a value downlink (see `HandlerContext::value_downlink_builder`).
///
/// Dropping the handle stops the downlink.
pub struct ValueDownlinkHandle<T> {
    lifeline: Lifeline,
    last: Arc<Mutex<Option<T>>>,
    writer: Writer<Latest<T>>,
}

impl<T> ValueDownlinkHandle<T>
where
    T: Clone + Serialize + Send + 'static,
{
    pub(crate) fn new(lifeline: Lifeline, last: Arc<Mutex<Option<T>>>, target: Target) -> Self {
        ValueDownlinkHandle {
            lifeline,
            last,
            writer: Writer::new(target),
        }
    }

    /// Sets the remote lane to `value`. The write is queued and this returns at once; if
    /// several values are set before they can be sent, only the latest is sent.
    ///
    /// The downlink's own state changes when the lane sends the new value back.
    ///
    /// # Errors
    /// [`DownlinkError::Stopped`] if the downlink has stopped.
    pub fn set(&mut self, value: T) -> Result<(), DownlinkError> {
        if self.lifeline.is_stopped() {
            return Err(DownlinkError::Stopped);
        }
        self.writer.push(|latest| latest.0 = Some(value))
    }

    /// The last value received from the lane (`None` before the first).
    pub fn get(&self) -> Option<T> {
        lock(&self.last).clone()
    }

    /// Stops the downlink: it unlinks (running `on_unlinked` if it was linked); writes already
    /// queued are still sent.
    pub fn stop(&self) {
        self.lifeline.stop();
        self.writer.close();
    }

    lifeline_accessors!();
}

impl<T> fmt::Debug for ValueDownlinkHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.writer.debug(f, "ValueDownlinkHandle", &self.lifeline)
    }
}

/// A handle to a map downlink (see `HandlerContext::map_downlink_builder`).
///
/// Dropping the handle stops the downlink.
pub struct MapDownlinkHandle<K, V> {
    lifeline: Lifeline,
    last: Arc<Mutex<HashMap<K, V>>>,
    writer: Writer<Operations<K, V>>,
}

impl<K, V> MapDownlinkHandle<K, V>
where
    K: Eq + Hash + Clone + Serialize + Send + 'static,
    V: Clone + Serialize + Send + 'static,
{
    pub(crate) fn new(lifeline: Lifeline, last: Arc<Mutex<HashMap<K, V>>>, target: Target) -> Self {
        MapDownlinkHandle {
            lifeline,
            last,
            writer: Writer::new(target),
        }
    }

    fn write(&self, message: MapMessage<K, V>) -> Result<(), DownlinkError> {
        if self.lifeline.is_stopped() {
            return Err(DownlinkError::Stopped);
        }
        self.writer.push(|queue| queue.0.push_back(message))
    }

    /// Inserts or replaces the entry for `key` in the remote lane (queued; returns at once).
    ///
    /// # Errors
    /// [`DownlinkError::Stopped`] if the downlink has stopped.
    pub fn update(&self, key: K, value: V) -> Result<(), DownlinkError> {
        self.write(MapMessage::Update { key, value })
    }

    /// Removes the entry for `key` from the remote lane.
    ///
    /// # Errors
    /// [`DownlinkError::Stopped`] if the downlink has stopped.
    pub fn remove(&self, key: K) -> Result<(), DownlinkError> {
        self.write(MapMessage::Remove { key })
    }

    /// Removes every entry of the remote lane.
    ///
    /// # Errors
    /// [`DownlinkError::Stopped`] if the downlink has stopped.
    pub fn clear(&self) -> Result<(), DownlinkError> {
        self.write(MapMessage::Clear)
    }

    /// The value for `key` as last received from the lane.
    pub fn get(&self, key: &K) -> Option<V> {
        lock(&self.last).get(key).cloned()
    }

    /// A copy of the whole map as last received from the lane.
    pub fn get_map(&self) -> HashMap<K, V> {
        lock(&self.last).clone()
    }

    /// Stops the downlink (see [`ValueDownlinkHandle::stop`]).
    pub fn stop(&self) {
        self.lifeline.stop();
        self.writer.close();
    }

    lifeline_accessors!();
}

impl<K, V> fmt::Debug for MapDownlinkHandle<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.writer.debug(f, "MapDownlinkHandle", &self.lifeline)
    }
}

/// A handle to an event downlink (read-only; see `HandlerContext::event_downlink_builder`).
///
/// Dropping the handle stops the downlink.
pub struct EventDownlinkHandle {
    lifeline: Lifeline,
}

impl EventDownlinkHandle {
    pub(crate) fn new(lifeline: Lifeline) -> Self {
        EventDownlinkHandle { lifeline }
    }

    /// Stops the downlink.
    pub fn stop(&self) {
        self.lifeline.stop();
    }

    lifeline_accessors!();
}

impl fmt::Debug for EventDownlinkHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventDownlinkHandle")
            .field("status", &self.lifeline.status())
            .finish()
    }
}
