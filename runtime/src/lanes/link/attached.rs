//! Attached links: a subscriber as its lane keeps it, by the path its values travel.

use std::any::Any;
use std::sync::Arc;

use super::{
    Latest, LatestSink, LinkSink, MapSink, ReconMapSink, ReconValueSink, SharedEncoding, ValueSink,
};
use crate::vocabulary::UnlinkReason;

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
        super::agent_gone(self.sink());
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
    pub(crate) fn send(&self, event: crate::lanes::MapEvent<'_, K, V>) -> bool {
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
        event: crate::lanes::MapEvent<'_, K, V>,
        shared_key: &mut SharedEncoding,
        shared_value: &mut SharedEncoding,
    ) -> bool {
        use crate::lanes::MapEvent;
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
        super::agent_gone(self.sink());
    }
}

impl<T> crate::lanes::ValueOutlet<T> for ValueLink<T>
where
    T: Clone + serde::Serialize + Send + 'static,
{
    fn publish(&mut self, value: &T) -> crate::lanes::OutletStatus {
        self.publish_shared(value, &mut SharedEncoding::default())
    }

    fn publish_shared(
        &mut self,
        value: &T,
        shared: &mut SharedEncoding,
    ) -> crate::lanes::OutletStatus {
        if self.send_shared(value, shared) {
            crate::lanes::OutletStatus::Open
        } else {
            crate::lanes::OutletStatus::Closed
        }
    }
}

impl<K, V> crate::lanes::MapOutlet<K, V> for MapLink<K, V>
where
    K: Clone + serde::Serialize + Send + 'static,
    V: Clone + serde::Serialize + Send + 'static,
{
    fn publish(&mut self, event: crate::lanes::MapEvent<'_, K, V>) -> crate::lanes::OutletStatus {
        self.publish_shared(
            event,
            &mut SharedEncoding::default(),
            &mut SharedEncoding::default(),
        )
    }

    fn publish_shared(
        &mut self,
        event: crate::lanes::MapEvent<'_, K, V>,
        key: &mut SharedEncoding,
        value: &mut SharedEncoding,
    ) -> crate::lanes::OutletStatus {
        if self.send_shared(event, key, value) {
            crate::lanes::OutletStatus::Open
        } else {
            crate::lanes::OutletStatus::Closed
        }
    }
}
