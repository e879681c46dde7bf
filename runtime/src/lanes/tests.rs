use super::*;
use crate::event_handler::{EventHandlerError, Modification};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Sink(Vec<Modification>);

impl ModificationSink for Sink {
    fn modified(&mut self, modification: Modification) -> Result<(), EventHandlerError> {
        self.0.push(modification);
        Ok(())
    }
}

type Events<E> = Arc<Mutex<Vec<E>>>;

fn recorder<E: Send + 'static>() -> (Events<E>, Events<E>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    (events.clone(), events)
}

#[test]
fn value_lane_keeps_the_previous_value_for_on_set() {
    let lane = ValueLane::new(0, 1);
    ValueLikeItem::set(&lane, 2);
    lane.with_event(|new, previous| {
        assert_eq!(*new, 2);
        assert_eq!(previous, Some(1));
    });
    lane.with_event(|_, previous| assert_eq!(previous, None));
}

#[test]
fn value_lane_publishes_the_latest_value_once_per_flush() {
    let lane = ValueLane::new(0, 0);
    let (events, seen) = recorder::<i32>();
    lane.subscribe(move |v: &i32| {
        events.lock().unwrap().push(*v);
        OutletStatus::Open
    });
    ValueLikeItem::set(&lane, 1);
    ValueLikeItem::set(&lane, 2);
    lane.flush();
    lane.flush();
    assert_eq!(*seen.lock().unwrap(), vec![2]);
}

#[test]
fn closed_outlets_are_removed() {
    let lane = ValueLane::new(0, 0);
    let (events, seen) = recorder::<i32>();
    lane.subscribe(move |v: &i32| {
        events.lock().unwrap().push(*v);
        OutletStatus::Closed
    });
    ValueLikeItem::set(&lane, 1);
    lane.flush();
    ValueLikeItem::set(&lane, 2);
    lane.flush();
    assert_eq!(*seen.lock().unwrap(), vec![1]);
}

#[test]
fn map_lane_coalesces_operations_per_key() {
    let lane: MapLane<String, i32> = MapLane::new(0, Default::default());
    let (events, seen) = recorder::<MapMessage<String, i32>>();
    lane.subscribe(move |e: MapEvent<'_, String, i32>| {
        events.lock().unwrap().push(e.to_message());
        OutletStatus::Open
    });
    lane.update("a".into(), 1);
    lane.update("b".into(), 2);
    lane.update("a".into(), 3);
    lane.remove(&"b".to_owned());
    lane.flush();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            MapMessage::Update {
                key: "a".into(),
                value: 3
            },
            MapMessage::Remove { key: "b".into() },
        ]
    );
}

#[test]
fn map_lane_clear_resets_pending_operations() {
    let lane: MapLane<u8, u8> = MapLane::new(0, Default::default());
    let (events, seen) = recorder::<MapMessage<u8, u8>>();
    lane.subscribe(move |e: MapEvent<'_, u8, u8>| {
        events.lock().unwrap().push(e.to_message());
        OutletStatus::Open
    });
    lane.update(1, 1);
    lane.clear();
    lane.update(2, 2);
    lane.flush();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![MapMessage::Clear, MapMessage::Update { key: 2, value: 2 }]
    );
}

#[test]
fn map_lane_events_describe_the_last_change() {
    let lane: MapLane<u8, u8> = MapLane::new(0, Default::default());
    lane.update(1, 10);
    lane.with_event(|_, event| assert!(matches!(event, MapLaneEvent::Update(1, None))));
    lane.update(1, 11);
    lane.with_event(|_, event| assert!(matches!(event, MapLaneEvent::Update(1, Some(10)))));
    assert!(!lane.remove(&7));
    assert!(lane.remove(&1));
    lane.with_event(|_, event| assert!(matches!(event, MapLaneEvent::Remove(1, 11))));
    lane.clear();
    lane.with_event(|_, event| assert!(matches!(event, MapLaneEvent::Clear(_))));
    assert!(lane.with_event(|_, _| ()).is_none());
}

#[test]
fn take_and_drop_remove_keys_in_order_one_event_each() {
    let lane: MapLane<u8, u8> = MapLane::new(3, (0..6).map(|k| (k, k)).collect());
    let mut sink = Sink::default();
    lane.apply(MapMessage::Take(4), &mut sink).unwrap();
    assert_eq!(sink.0, vec![Modification::of(3); 2]);
    assert_eq!(lane.read_map(|m| m.ordered_keys()), vec![0, 1, 2, 3]);
    lane.apply(MapMessage::Drop(1), &mut sink).unwrap();
    assert_eq!(lane.read_map(|m| m.ordered_keys()), vec![1, 2, 3]);
    lane.apply(MapMessage::Drop(100), &mut sink).unwrap();
    assert!(lane.read_map(|m| m.is_empty()));
}

#[test]
fn removing_a_missing_key_reports_nothing() {
    let lane: OrderedMapLane<u8, u8> = MapLane::new(0, Default::default());
    let mut sink = Sink::default();
    lane.apply(MapMessage::Remove { key: 1 }, &mut sink)
        .unwrap();
    assert!(sink.0.is_empty());
}

#[test]
fn command_lane_bounds_its_queue_and_counts_losses() {
    let lane = CommandLane::new(0);
    let (events, seen) = recorder::<u32>();
    lane.subscribe(move |v: &u32| {
        events.lock().unwrap().push(*v);
        OutletStatus::Open
    });
    for i in 0..1030 {
        lane.push(i);
    }
    assert_eq!(lane.with_command(|c| *c), Some(1029));
    lane.flush();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1024);
    assert_eq!(seen[0], 6);
    assert_eq!(lane.lost(), 6);
}

#[test]
fn typed_commands_of_the_wrong_type_are_rejected() {
    let lane = ValueLane::new(0, 0i32);
    let mut sink = Sink::default();
    let result = lane.apply_command(CommandPayload::typed("text"), &mut sink);
    assert!(matches!(result, Err(EventHandlerError::BadCommand(_))));
    lane.apply_command(CommandPayload::typed(5i32), &mut sink)
        .unwrap();
    assert_eq!(lane.get(), 5);
    assert_eq!(sink.0, vec![Modification::of(0)]);
}
