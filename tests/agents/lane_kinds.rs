//! Demand, demand-map and supply lanes through the testing kit: cue and record, sync, supply.

use std::cell::Cell;
use std::collections::BTreeSet;

use tidal::agent::lanes::MapMessage;
use tidal::prelude::*;
use tidal::testing::AgentHarness;

/// A stock of items: `count` per item, with lanes computed from it on demand.
#[projections]
#[derive(AgentLaneModel)]
pub struct Stock {
    count: MapLane<String, u32>,
    /// How many items there are in all.
    total: DemandLane<u32>,
    /// Each item's count, as text.
    labels: DemandMapLane<String, String>,
    /// Every restock, as it happens.
    restocks: SupplyLane<(String, u32)>,
    restock: CommandLane<(String, u32)>,
}

/// Counts how often each handler computing a lane ran.
#[derive(Default)]
pub struct StockLifecycle {
    cues: Cell<usize>,
}

#[lifecycle(Stock, no_clone)]
impl StockLifecycle {
    #[on_command(restock)]
    fn restock(
        &self,
        context: HandlerContext<Stock>,
        restock: &(String, u32),
    ) -> impl EventHandler<Stock> {
        let (item, n) = restock.clone();
        context
            .transform_entry(Stock::COUNT, item.clone(), move |count| {
                Some(count.copied().unwrap_or(0) + n)
            })
            .followed_by(context.cue(Stock::TOTAL))
            .followed_by(context.cue_key(Stock::LABELS, item.clone()))
            .followed_by(context.supply(Stock::RESTOCKS, (item, n)))
    }

    #[on_cue(total)]
    fn total(
        &self,
        context: HandlerContext<Stock>,
    ) -> impl HandlerAction<Stock, Completion = u32> + '_ {
        self.cues.set(self.cues.get() + 1);
        context.with_map(Stock::COUNT, |count| count.values().sum())
    }

    #[keys(labels)]
    fn items(
        &self,
        context: HandlerContext<Stock>,
    ) -> impl HandlerAction<Stock, Completion = BTreeSet<String>> {
        context.with_map(Stock::COUNT, |count| count.keys().cloned().collect())
    }

    #[on_cue_key(labels)]
    fn label(
        &self,
        context: HandlerContext<Stock>,
        item: String,
    ) -> impl HandlerAction<Stock, Completion = Option<String>> {
        context.with_entry(Stock::COUNT, item.clone(), move |count| {
            count
                .filter(|count| **count > 0)
                .map(|count| format!("{count} x {item}"))
        })
    }
}

fn started() -> AgentHarness<Stock, StockLifecycle> {
    let mut agent = AgentHarness::new(Stock::default(), StockLifecycle::default());
    agent.start().unwrap();
    agent
}

#[test]
fn a_cue_computes_the_value_once_per_cue_and_subscribers_get_the_last_of_an_event() {
    let mut agent = started();
    let total = agent.record(Stock::TOTAL);
    agent
        .command(Stock::RESTOCK, ("apple".to_owned(), 3))
        .unwrap();
    assert_eq!(total.take(), [3]);
    // Three cues in one event: each computes, subscribers get the last value once.
    agent
        .run_with(|context| {
            context
                .update(Stock::COUNT, "pear".to_owned(), 2)
                .followed_by(context.cue(Stock::TOTAL))
                .followed_by(context.update(Stock::COUNT, "fig".to_owned(), 1))
                .followed_by(context.cue(Stock::TOTAL))
                .followed_by(context.cue(Stock::TOTAL))
        })
        .unwrap();
    assert_eq!(total.take(), [6]);
    assert_eq!(agent.lifecycle().cues.get(), 4);
}

#[test]
fn a_demand_lane_sync_computes_a_value_for_the_subscriber_alone() {
    let mut agent = started();
    let total = agent.record(Stock::TOTAL);
    agent
        .run_with(|context| context.update(Stock::COUNT, "kiwi".to_owned(), 7))
        .unwrap();
    assert_eq!(agent.sync(Stock::TOTAL).unwrap(), [7]);
    assert!(total.is_empty(), "other subscribers hear nothing of a sync");
}

#[test]
fn a_demand_map_lane_computes_cued_keys_and_syncs_every_listed_key() {
    let mut agent = started();
    let labels = agent.record(Stock::LABELS);
    agent
        .command(Stock::RESTOCK, ("apple".to_owned(), 3))
        .unwrap();
    agent
        .command(Stock::RESTOCK, ("plum".to_owned(), 1))
        .unwrap();
    assert_eq!(
        labels.take(),
        [
            MapMessage::Update {
                key: "apple".to_owned(),
                value: "3 x apple".to_owned()
            },
            MapMessage::Update {
                key: "plum".to_owned(),
                value: "1 x plum".to_owned()
            },
        ]
    );
    // A key computed to `None` is a remove for subscribers, and is left out of a sync.
    agent
        .run_with(|context| {
            context
                .update(Stock::COUNT, "plum".to_owned(), 0)
                .followed_by(context.cue_key(Stock::LABELS, "plum".to_owned()))
        })
        .unwrap();
    assert_eq!(
        labels.take(),
        [MapMessage::Remove {
            key: "plum".to_owned()
        }]
    );
    assert_eq!(
        agent.sync(Stock::LABELS).unwrap(),
        [MapMessage::Update {
            key: "apple".to_owned(),
            value: "3 x apple".to_owned()
        }]
    );
}

#[test]
fn a_supply_lane_sends_every_value_in_order_and_syncs_empty() {
    let mut agent = started();
    let restocks = agent.record(Stock::RESTOCKS);
    agent
        .run_with(|context| {
            context
                .supply(Stock::RESTOCKS, ("a".to_owned(), 1))
                .followed_by(context.supply(Stock::RESTOCKS, ("b".to_owned(), 2)))
        })
        .unwrap();
    agent.command(Stock::RESTOCK, ("c".to_owned(), 3)).unwrap();
    assert_eq!(
        restocks.take(),
        [
            ("a".to_owned(), 1),
            ("b".to_owned(), 2),
            ("c".to_owned(), 3)
        ]
    );
    assert_eq!(agent.sync(Stock::RESTOCKS).unwrap(), []);
}

/// A building joining the lights of its rooms, for the kit's join-link events.
#[projections]
#[derive(AgentLaneModel)]
pub struct Building {
    lights: JoinValueLane<String, bool>,
}

#[derive(Default)]
pub struct BuildingLifecycle {
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

#[lifecycle(Building, no_clone)]
impl BuildingLifecycle {
    #[join_value_lifecycle(lights)]
    fn links(
        &self,
        context: JoinValueContext<Building, String, bool>,
    ) -> impl JoinValueLaneLifecycle<String, bool, Building> {
        let (linked, synced) = (self.seen.clone(), self.seen.clone());
        context
            .builder()
            .on_linked(move |context, room, remote| {
                let line = format!("linked {room} to {}", remote.node);
                let seen = linked.clone();
                context.effect(move || seen.lock().unwrap().push(line))
            })
            .on_synced(move |context, room, _, on| {
                let line = format!("synced {room} {on:?}");
                let seen = synced.clone();
                context.effect(move || seen.lock().unwrap().push(line))
            })
            .on_unlinked(|context, _, _, _| context.value(LinkClosedResponse::Delete))
            .done()
    }
}

#[test]
fn join_link_events_injected_without_a_network_feed_the_lane_and_run_its_lifecycle() {
    use tidal::agent::lanes::JoinLinkEvent;

    let mut agent = AgentHarness::new(Building::default(), BuildingLifecycle::default());
    let lights = agent.record(Building::LIGHTS);
    agent.start().unwrap();
    agent
        .run_with(|context| {
            context.add_downlink(
                Building::LIGHTS,
                "hall".to_owned(),
                None,
                "/room/hall",
                "on",
            )
        })
        .unwrap();
    let hall = || "hall".to_owned();
    agent
        .join_value_event(Building::LIGHTS, hall(), JoinLinkEvent::Linked)
        .unwrap();
    agent
        .join_value_event(Building::LIGHTS, hall(), JoinLinkEvent::Value(true))
        .unwrap();
    agent
        .join_value_event(Building::LIGHTS, hall(), JoinLinkEvent::Synced)
        .unwrap();
    assert_eq!(
        *agent.lifecycle().seen.lock().unwrap(),
        ["linked hall to /room/hall", "synced hall Some(true)"]
    );
    assert_eq!(agent.sync(Building::LIGHTS).unwrap().len(), 1);
    // `Delete` on unlink removes the entry and the link; later events of the key do nothing.
    agent
        .join_value_event(
            Building::LIGHTS,
            hall(),
            JoinLinkEvent::Closed(UnlinkReason::Closed),
        )
        .unwrap();
    agent
        .join_value_event(Building::LIGHTS, hall(), JoinLinkEvent::Value(false))
        .unwrap();
    assert!(agent.map(Building::LIGHTS).is_empty());
    assert!(agent.agent().lights.links().is_empty());
    assert_eq!(
        lights.take(),
        [
            MapMessage::Update {
                key: hall(),
                value: true
            },
            MapMessage::Remove { key: hall() },
        ]
    );
}

/// An inventory joining the stock of its shops, for the kit's join-map-link events.
#[projections]
#[derive(AgentLaneModel)]
pub struct Inventory {
    stock: JoinMapLane<String, String, u32>,
}

#[derive(Clone)]
pub struct InventoryLifecycle;

#[lifecycle(Inventory)]
impl InventoryLifecycle {
    #[join_map_lifecycle(stock)]
    fn links(
        &self,
        context: JoinMapContext<Inventory, String, String, u32>,
    ) -> impl JoinMapLaneLifecycle<String, String, u32, Inventory> {
        context
            .builder()
            .on_failed(|context, _, _, _, _| context.value(LinkClosedResponse::Delete))
    }
}

#[test]
fn join_map_link_events_injected_without_a_network_keep_each_key_with_its_last_writer() {
    use tidal::agent::lanes::JoinMapLinkEvent;

    let mut agent = AgentHarness::new(Inventory::default(), InventoryLifecycle);
    let stock = agent.record(Inventory::STOCK);
    agent.start().unwrap();
    agent
        .run_with(|context| {
            context
                .add_map_downlink(
                    Inventory::STOCK,
                    "north".to_owned(),
                    None,
                    "/shop/north",
                    "items",
                )
                .followed_by(context.add_map_downlink(
                    Inventory::STOCK,
                    "south".to_owned(),
                    None,
                    "/shop/south",
                    "items",
                ))
        })
        .unwrap();
    let update = |item: &str, n| JoinMapLinkEvent::Update(item.to_owned(), n);
    for (shop, event) in [
        ("north", update("apple", 1)),
        ("north", update("pear", 2)),
        ("south", update("apple", 3)),
        ("north", JoinMapLinkEvent::Remove("apple".to_owned())),
    ] {
        agent
            .join_map_event(Inventory::STOCK, shop.to_owned(), event)
            .unwrap();
    }
    assert_eq!(
        agent.agent().stock.owner(&"apple".to_owned()).as_deref(),
        Some("south")
    );
    // North's link fails: `Delete` removes what north owns (pear), not apple.
    agent
        .join_map_event(
            Inventory::STOCK,
            "north".to_owned(),
            JoinMapLinkEvent::Closed(UnlinkReason::BadValue("not a number".to_owned())),
        )
        .unwrap();
    let map = agent.map(Inventory::STOCK);
    assert_eq!(map.len(), 1);
    assert_eq!(map.get("apple"), Some(&3));
    assert_eq!(stock.take().len(), 4, "3 updates, then the remove of pear");
}

/// A counter reachable over HTTP.
#[projections]
#[derive(AgentLaneModel)]
pub struct Counter {
    count: ValueLane<i64>,
    api: SimpleHttpLane<i64>,
}

#[derive(Clone)]
pub struct CounterLifecycle;

#[lifecycle(Counter)]
impl CounterLifecycle {
    #[on_get(api)]
    fn get(
        &self,
        context: HandlerContext<Counter>,
        _: HttpRequestContext,
    ) -> impl HandlerAction<Counter, Completion = Response<i64>> {
        context.get_value(Counter::COUNT).map(Response::ok)
    }

    #[on_post(api)]
    fn add(
        &self,
        context: HandlerContext<Counter>,
        _: HttpRequestContext,
        n: i64,
    ) -> impl HandlerAction<Counter, Completion = UnitResponse> {
        context
            .transform_value(Counter::COUNT, move |count| count + n)
            .followed_by(context.value(UnitResponse::default()))
    }
}

#[test]
fn the_kit_calls_http_handlers_and_returns_their_answers() {
    use tidal::agent::lanes::{Method, StatusCode};

    let mut agent = AgentHarness::new(Counter::default(), CounterLifecycle);
    agent.start().unwrap();
    let post = agent
        .http(Counter::API, Method::POST, "/counter?lane=api", "5")
        .unwrap();
    assert_eq!(post.status(), StatusCode::OK);
    let get = agent
        .http(Counter::API, Method::GET, "/counter?lane=api", "")
        .unwrap();
    assert_eq!((get.status(), get.text()), (StatusCode::OK, "5".to_owned()));
    let put = agent
        .http(Counter::API, Method::PUT, "/counter?lane=api", "1")
        .unwrap();
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(put.headers()["allow"], "GET, HEAD, POST");
    let bad = agent
        .http(Counter::API, Method::POST, "/counter?lane=api", "five")
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(agent.value(Counter::COUNT), 5);
}
