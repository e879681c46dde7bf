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
