//! Links: how a subscriber (a downlink, or later a remote client) attaches to a lane.
//!
//! A link request carries a [`LinkSubscriber`]. The lane announces `linked`, sends its state
//! when a sync is asked for (`event`s then `synced`), and from then on publishes each change.
//! Where the subscriber wants exactly the lane's type, values travel typed (a clone, no
//! encoding); otherwise they are converted through Recon, and a value that does not fit the
//! subscriber's type fails the link.

use std::any::Any;

use std::sync::{Arc, OnceLock, Weak};

use std::fmt;

use crate::lock::lock;
use crate::recon::Value;
use crate::vocabulary::{ItemKind, UnlinkReason};

/// A value in Recon form whose text is encoded at most once, however many subscribers of one
/// event ask for it.
#[derive(Debug)]
pub struct Encoded {
    value: Value,
    text: OnceLock<Arc<str>>,
}

impl Encoded {
    /// Wraps a Recon value.
    pub fn new(value: Value) -> Self {
        Encoded {
            value,
            text: OnceLock::new(),
        }
    }

    /// The value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The value's compact Recon text, encoded on first use.
    pub fn text(&self) -> &Arc<str> {
        self.text.get_or_init(|| self.value.to_string().into())
    }
}

/// The Recon form of one lane event, computed for the first subscriber that needs it and
/// shared by the others.
#[derive(Default)]
pub struct SharedEncoding {
    encoded: Option<Result<Encoded, String>>,
}

impl SharedEncoding {
    /// The event in Recon form (converted on the first call).
    pub fn get<T: serde::Serialize>(&mut self, value: &T) -> Result<&Encoded, &str> {
        self.encoded
            .get_or_insert_with(|| {
                crate::recon::to_value(value)
                    .map(Encoded::new)
                    .map_err(|err| err.to_string())
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

/// What every subscriber hears about the state of its link.
pub trait LinkSink: Send + Sync + 'static {
    /// The kind of lane the link is to (told before `linked`).
    fn lane_kind(&self, kind: ItemKind) {
        let _ = kind;
    }

    /// The link is established.
    fn linked(&self);
    /// The lane's state has been sent in full.
    fn synced(&self);
    /// The link has ended.
    fn unlinked(&self, reason: UnlinkReason);
    /// The connection carrying a remote link was lost; it will be linked (and synced) again
    /// when the connection is back. This is not an unlink.
    fn connection_lost(&self) {}
    /// Whether the subscriber is gone (the lane then drops the link).
    fn is_closed(&self) -> bool;
}

/// A subscriber to a value or command lane that takes values of type `T` as they are.
pub trait ValueSink<T>: LinkSink {
    /// One value (the lane's state, or a command).
    fn event(&self, value: T);
}

/// The latest value of a value lane, shared by all its coalescing subscribers: the lane writes
/// it once per event and wakes only the subscribers that are waiting for a change; each reads
/// it when it gets round to it, then waits again. A burst of `M` changes seen by `N`
/// subscribers costs about `M + N`, not `M * N`.
pub struct Latest<T> {
    value: std::sync::Mutex<Option<T>>,
    waiting: std::sync::Mutex<Vec<Weak<dyn LatestSink<T>>>>,
}

impl<T: Clone + 'static> Latest<T> {
    /// A shared copy of `value`.
    pub(crate) fn new_shared(value: &T) -> Self {
        Latest {
            value: std::sync::Mutex::new(Some(value.clone())),
            waiting: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn value(&self) -> std::sync::MutexGuard<'_, Option<T>> {
        lock(&self.value)
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Vec<Weak<dyn LatestSink<T>>>> {
        lock(&self.waiting)
    }

    /// A copy of the latest value.
    pub fn get(&self) -> Option<T> {
        self.value().clone()
    }

    /// Tells `sink` (once) of the next change.
    pub fn wait(&self, sink: Weak<dyn LatestSink<T>>) {
        self.waiting().push(sink);
    }

    pub(crate) fn set(&self, value: &T) {
        *self.value() = Some(value.clone());
    }

    /// Sets the value and wakes the waiting subscribers (`spare` is reused storage).
    pub(crate) fn publish(&self, value: &T, spare: &mut Vec<Weak<dyn LatestSink<T>>>) {
        self.set(value);
        std::mem::swap(&mut *self.waiting(), spare);
        for sink in spare.drain(..) {
            if let Some(sink) = sink.upgrade() {
                sink.changed();
            }
        }
    }
}

/// A subscriber to a value lane that only needs its latest value (a value downlink of the
/// lane's type): the lane shares one copy with all such subscribers and wakes each, once, when
/// it changes.
pub trait LatestSink<T>: LinkSink {
    /// The lane's shared latest value, and the subscriber itself, for it to wait again after
    /// each change (given once, before `linked`).
    fn attach(&self, latest: Arc<Latest<T>>, this: Weak<dyn LatestSink<T>>);
    /// The latest value has changed.
    fn changed(&self);
}

/// A subscriber to a value or command lane that takes values in Recon form.
pub trait ReconValueSink: LinkSink {
    /// One value; `Err` if it does not fit the subscriber's type.
    fn event_recon(&self, value: &Encoded) -> Result<(), String>;
}

/// A subscriber to a map lane that takes keys and values of types `K` and `V` as they are.
pub trait MapSink<K, V>: LinkSink {
    /// The entry for `key` is now `value`.
    fn update(&self, key: K, value: V);
    /// The entry for `key` is gone.
    fn remove(&self, key: K);
    /// Every entry is gone.
    fn clear(&self);
}

/// A subscriber to a map lane that takes keys and values in Recon form.
pub trait ReconMapSink: LinkSink {
    /// The entry for `key` is now `value`; `Err` if either does not fit.
    fn update_recon(&self, key: &Encoded, value: &Encoded) -> Result<(), String>;
    /// The entry for `key` is gone; `Err` if the key does not fit.
    fn remove_recon(&self, key: &Encoded) -> Result<(), String>;
    /// Every entry is gone.
    fn clear(&self);
}

/// The parts of a link request of the kind a lane expected.
pub(crate) struct Parts<S: ?Sized> {
    pub(crate) id: u64,
    pub(crate) typed: Box<dyn Any + Send>,
    pub(crate) recon: Arc<S>,
    pub(crate) sync: bool,
}

/// A new, process-wide unique link id (0 is never used).
pub fn next_link_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A request to link to a lane.
pub enum LinkSubscriber {
    /// To a value lane (state and changes) or a command lane (commands).
    Value {
        /// The link's id, to unlink it later (see [`next_link_id`]).
        id: u64,
        /// `Arc<dyn ValueSink<T>>` for the subscriber's `T`, used when it is the lane's type.
        typed: Box<dyn Any + Send>,
        /// The same subscriber, taking Recon values.
        recon: Arc<dyn ReconValueSink>,
        /// Whether to send the lane's state first (`@sync` rather than `@link`).
        sync: bool,
    },
    /// To a lane of any kind, with Recon values (e.g. for a remote client, which does not know
    /// the kind of the lane it links to).
    Untyped {
        /// The link's id, to unlink it later.
        id: u64,
        /// Receives the events of value and command lanes.
        value: Arc<dyn ReconValueSink>,
        /// Receives the events of map lanes (usually the same object as `value`).
        map: Arc<dyn ReconMapSink>,
        /// Whether to send the lane's state first.
        sync: bool,
    },
    /// To a map lane.
    Map {
        /// The link's id, to unlink it later.
        id: u64,
        /// `Arc<dyn MapSink<K, V>>` for the subscriber's `K` and `V`.
        typed: Box<dyn Any + Send>,
        /// The same subscriber, taking Recon keys and values.
        recon: Arc<dyn ReconMapSink>,
        /// Whether to send the lane's entries first.
        sync: bool,
    },
}

impl LinkSubscriber {
    /// Tells the subscriber that the link failed before it was made.
    pub fn refuse(self, reason: UnlinkReason) {
        self.sink().unlinked(reason);
    }

    /// The link's id.
    pub fn id(&self) -> u64 {
        match self {
            LinkSubscriber::Value { id, .. }
            | LinkSubscriber::Map { id, .. }
            | LinkSubscriber::Untyped { id, .. } => *id,
        }
    }

    /// Whether the subscriber asked for the lane's state first.
    pub fn wants_sync(&self) -> bool {
        match self {
            LinkSubscriber::Value { sync, .. }
            | LinkSubscriber::Map { sync, .. }
            | LinkSubscriber::Untyped { sync, .. } => *sync,
        }
    }

    /// The subscriber's link notifications.
    pub fn sink(&self) -> &dyn LinkSink {
        match self {
            LinkSubscriber::Value { recon, .. } => recon.as_ref(),
            LinkSubscriber::Map { recon, .. } => recon.as_ref(),
            LinkSubscriber::Untyped { value, .. } => value.as_ref(),
        }
    }

    /// The kind of lane the subscriber expects, for error messages.
    fn expected(&self) -> &'static str {
        match self {
            LinkSubscriber::Value { .. } => "value or command lane",
            LinkSubscriber::Map { .. } => "map lane",
            LinkSubscriber::Untyped { .. } => "lane",
        }
    }

    /// The parts of a value subscriber; any other is refused (the lane is a `lane`).
    pub(crate) fn into_value(self, lane: &'static str) -> Option<Parts<dyn ReconValueSink>> {
        match self {
            LinkSubscriber::Value {
                id,
                typed,
                recon,
                sync,
            } => Some(Parts {
                id,
                typed,
                recon,
                sync,
            }),
            LinkSubscriber::Untyped {
                id, value, sync, ..
            } => Some(Parts {
                id,
                typed: Box::new(()),
                recon: value,
                sync,
            }),
            other => other.refuse_kind(lane),
        }
    }

    /// The parts of a map subscriber; any other is refused (the lane is a `lane`).
    pub(crate) fn into_map(self, lane: &'static str) -> Option<Parts<dyn ReconMapSink>> {
        match self {
            LinkSubscriber::Map {
                id,
                typed,
                recon,
                sync,
            } => Some(Parts {
                id,
                typed,
                recon,
                sync,
            }),
            LinkSubscriber::Untyped { id, map, sync, .. } => Some(Parts {
                id,
                typed: Box::new(()),
                recon: map,
                sync,
            }),
            other => other.refuse_kind(lane),
        }
    }

    fn refuse_kind<T>(self, lane: &'static str) -> Option<T> {
        let expected = self.expected();
        self.refuse(UnlinkReason::KindMismatch { lane, expected });
        None
    }
}

impl fmt::Debug for LinkSubscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkSubscriber({})", self.expected())
    }
}

/// The paths of a value subscriber, as a lane keeps it.
pub(crate) enum ValueLink<T> {
    Latest(Arc<dyn LatestSink<T>>),
    Typed(Arc<dyn ValueSink<T>>),
    Recon(Arc<dyn ReconValueSink>),
}

impl<T> ValueLink<T>
where
    T: Clone + serde::Serialize + 'static,
{
    /// Picks the cheapest path the subscriber supports: the lane's shared latest value (if
    /// the lane has one to give), then typed values, then Recon.
    pub(crate) fn new(
        typed: Box<dyn Any + Send>,
        recon: Arc<dyn ReconValueSink>,
        latest: Option<&dyn Fn() -> Arc<Latest<T>>>,
    ) -> Self {
        let typed = match (typed.downcast::<Arc<dyn LatestSink<T>>>(), latest) {
            (Ok(sink), Some(latest)) => {
                let latest = latest();
                let this = Arc::downgrade(&*sink);
                latest.wait(this.clone());
                sink.attach(latest, this);
                return ValueLink::Latest(*sink);
            }
            (Ok(_), None) => return ValueLink::Recon(recon),
            (Err(typed), _) => typed,
        };
        match typed.downcast::<Arc<dyn ValueSink<T>>>() {
            Ok(sink) => ValueLink::Typed(*sink),
            Err(_) => ValueLink::Recon(recon),
        }
    }

    /// Whether the link reads the lane's shared latest value (the lane then wakes it, rather
    /// than publishing to it).
    pub(crate) fn is_latest(&self) -> bool {
        matches!(self, ValueLink::Latest(_))
    }

    /// Tells a shared-latest subscriber that the value changed (for the sync).
    pub(crate) fn changed(&self) {
        if let ValueLink::Latest(sink) = self {
            sink.changed();
        }
    }

    pub(crate) fn linked(&self) {
        self.sink().linked();
    }

    pub(crate) fn synced(&self) {
        self.sink().synced();
    }

    /// Sends one value; `false` if the link is over.
    pub(crate) fn send(&self, value: &T) -> bool {
        self.send_shared(value, &mut SharedEncoding::default())
    }

    /// Sends one value, converting it through `shared` (so that the subscribers of one event
    /// share one conversion); `false` if the link is over.
    pub(crate) fn send_shared(&self, value: &T, shared: &mut SharedEncoding) -> bool {
        match self {
            ValueLink::Latest(sink) => {
                if sink.is_closed() {
                    return false;
                }
                sink.changed();
                true
            }
            ValueLink::Typed(sink) => {
                if sink.is_closed() {
                    return false;
                }
                sink.event(value.clone());
                true
            }
            ValueLink::Recon(sink) => {
                if sink.is_closed() {
                    return false;
                }
                let converted = shared
                    .get(value)
                    .map_err(str::to_owned)
                    .and_then(|encoded| sink.event_recon(encoded));
                match converted {
                    Ok(()) => true,
                    Err(reason) => {
                        sink.unlinked(UnlinkReason::BadValue(reason));
                        false
                    }
                }
            }
        }
    }
}

impl<T> ValueLink<T> {
    fn sink(&self) -> &dyn LinkSink {
        match self {
            ValueLink::Latest(sink) => sink.as_ref(),
            ValueLink::Typed(sink) => sink.as_ref(),
            ValueLink::Recon(sink) => sink.as_ref(),
        }
    }
}

impl<T> Drop for ValueLink<T> {
    fn drop(&mut self) {
        let sink = self.sink();
        if !sink.is_closed() {
            sink.unlinked(UnlinkReason::AgentStopped);
        }
    }
}

/// Either path of a map subscriber, as a lane keeps it.
pub(crate) enum MapLink<K, V> {
    Typed(Arc<dyn MapSink<K, V>>),
    Recon(Arc<dyn ReconMapSink>),
}

impl<K, V> MapLink<K, V>
where
    K: Clone + serde::Serialize + 'static,
    V: Clone + serde::Serialize + 'static,
{
    /// Picks the typed path when the subscriber wants `K` and `V`.
    pub(crate) fn new(typed: Box<dyn Any + Send>, recon: Arc<dyn ReconMapSink>) -> Self {
        match typed.downcast::<Arc<dyn MapSink<K, V>>>() {
            Ok(sink) => MapLink::Typed(*sink),
            Err(_) => MapLink::Recon(recon),
        }
    }

    pub(crate) fn linked(&self) {
        self.sink().linked();
    }

    pub(crate) fn synced(&self) {
        self.sink().synced();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.sink().is_closed()
    }

    /// Sends one operation; `false` if the link is over.
    pub(crate) fn send(&self, event: super::MapEvent<'_, K, V>) -> bool {
        self.send_shared(
            event,
            &mut SharedEncoding::default(),
            &mut SharedEncoding::default(),
        )
    }

    /// Sends one operation, converting its key and value through the encodings shared by every
    /// link of the lane; `false` if the link is over.
    pub(crate) fn send_shared(
        &self,
        event: super::MapEvent<'_, K, V>,
        shared_key: &mut SharedEncoding,
        shared_value: &mut SharedEncoding,
    ) -> bool {
        use super::MapEvent;
        if self.is_closed() {
            return false;
        }
        let result = match (self, event) {
            (MapLink::Typed(sink), MapEvent::Update(key, value)) => {
                sink.update(key.clone(), value.clone());
                Ok(())
            }
            (MapLink::Typed(sink), MapEvent::Remove(key)) => {
                sink.remove(key.clone());
                Ok(())
            }
            (MapLink::Typed(sink), MapEvent::Clear) => {
                sink.clear();
                Ok(())
            }
            (MapLink::Recon(sink), MapEvent::Update(key, value)) => {
                match (shared_key.get(key), shared_value.get(value)) {
                    (Ok(key), Ok(value)) => sink.update_recon(key, value),
                    (Err(reason), _) | (_, Err(reason)) => Err(reason.to_owned()),
                }
            }
            (MapLink::Recon(sink), MapEvent::Remove(key)) => shared_key
                .get(key)
                .map_err(str::to_owned)
                .and_then(|key| sink.remove_recon(key)),
            (MapLink::Recon(sink), MapEvent::Clear) => {
                sink.clear();
                Ok(())
            }
        };
        match result {
            Ok(()) => true,
            Err(reason) => {
                self.sink().unlinked(UnlinkReason::BadValue(reason));
                false
            }
        }
    }
}

impl<K, V> MapLink<K, V> {
    fn sink(&self) -> &dyn LinkSink {
        match self {
            MapLink::Typed(sink) => sink.as_ref(),
            MapLink::Recon(sink) => sink.as_ref(),
        }
    }
}

impl<K, V> Drop for MapLink<K, V> {
    fn drop(&mut self) {
        let sink = self.sink();
        if !sink.is_closed() {
            sink.unlinked(UnlinkReason::AgentStopped);
        }
    }
}

impl<T> super::ValueOutlet<T> for ValueLink<T>
where
    T: Clone + serde::Serialize + Send + 'static,
{
    fn publish(&mut self, value: &T) -> super::OutletStatus {
        self.publish_shared(value, &mut SharedEncoding::default())
    }

    fn publish_shared(&mut self, value: &T, shared: &mut SharedEncoding) -> super::OutletStatus {
        if self.send_shared(value, shared) {
            super::OutletStatus::Open
        } else {
            super::OutletStatus::Closed
        }
    }
}

impl<K, V> super::MapOutlet<K, V> for MapLink<K, V>
where
    K: Clone + serde::Serialize + Send + 'static,
    V: Clone + serde::Serialize + Send + 'static,
{
    fn publish(&mut self, event: super::MapEvent<'_, K, V>) -> super::OutletStatus {
        self.publish_shared(
            event,
            &mut SharedEncoding::default(),
            &mut SharedEncoding::default(),
        )
    }

    fn publish_shared(
        &mut self,
        event: super::MapEvent<'_, K, V>,
        key: &mut SharedEncoding,
        value: &mut SharedEncoding,
    ) -> super::OutletStatus {
        if self.send_shared(event, key, value) {
            super::OutletStatus::Open
        } else {
            super::OutletStatus::Closed
        }
    }
}
