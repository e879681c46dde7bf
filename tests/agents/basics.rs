//! Event order for value sets, map operations and commands.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tidal::agent::{
    agent_lifecycle::HandlerContext,
    event_handler::{EventHandler, HandlerActionExt},
    lanes::{CommandLane, MapLane, MapMessage, OrderedMapLane, ValueLane},
    lifecycle, projections,
    state::{History, State},
    stores::{MapStore, ValueStore},
    AgentLaneModel,
};
use tidal::testing::AgentHarness;

#[projections]
#[derive(AgentLaneModel)]
pub struct Shop {
    total: ValueLane<i64>,
    stock: MapLane<String, u32>,
    buy: CommandLane<String>,
    #[item(init = 100)]
    budget: ValueStore<i64>,
    audit: MapStore<u64, String>,
    ranking: OrderedMapLane<u32, String>,
}

/// What the lifecycle saw, shared with the test.
pub type Log = Arc<Mutex<Vec<String>>>;

pub struct ShopLifecycle {
    log: Log,
    /// The last three entries, kept in lifecycle state across handlers.
    recent: History<Shop, String>,
    /// How many notes were written, across handlers.
    count: State<Shop, u32>,
}

impl ShopLifecycle {
    fn new(log: Log) -> Self {
        ShopLifecycle {
            log,
            recent: History::new(3),
            count: State::default(),
        }
    }

    fn note(&self, entry: String) -> impl EventHandler<Shop> + '_ {
        let log = self.log.clone();
        let copy = entry.clone();
        self.count
            .with_mut(|n| *n += 1)
            .followed_by(self.recent.push(entry))
            .followed_by(HandlerContext::default().effect(move || log.lock().unwrap().push(copy)))
    }
}

#[lifecycle(Shop)]
impl ShopLifecycle {
    #[on_start]
    fn start(&self, context: HandlerContext<Shop>) -> impl EventHandler<Shop> + '_ {
        context
            .get_agent_uri()
            .and_then(move |uri| self.note(format!("start {uri}")))
    }

    #[on_event(total)]
    fn total_event(
        &self,
        _context: HandlerContext<Shop>,
        value: &i64,
    ) -> impl EventHandler<Shop> + '_ {
        self.note(format!("event {value}"))
    }

    #[on_set(total)]
    fn total_set(
        &self,
        _context: HandlerContext<Shop>,
        value: &i64,
        previous: Option<i64>,
    ) -> impl EventHandler<Shop> + '_ {
        self.note(format!("set {value} from {previous:?}"))
    }

    #[on_update(stock)]
    fn stock_update(
        &self,
        _context: HandlerContext<Shop>,
        map: &HashMap<String, u32>,
        key: String,
        previous: Option<u32>,
        new_value: &u32,
    ) -> impl EventHandler<Shop> + '_ {
        self.note(format!(
            "update {key} {previous:?} -> {new_value} ({} keys)",
            map.len()
        ))
    }

    #[on_remove(stock)]
    fn stock_remove(
        &self,
        _context: HandlerContext<Shop>,
        _map: &HashMap<String, u32>,
        key: String,
        removed: u32,
    ) -> impl EventHandler<Shop> + '_ {
        self.note(format!("remove {key} {removed}"))
    }

    #[on_clear(stock)]
    fn stock_clear(
        &self,
        _context: HandlerContext<Shop>,
        before: HashMap<String, u32>,
    ) -> impl EventHandler<Shop> + '_ {
        self.note(format!("clear {}", before.len()))
    }

    #[on_command(buy)]
    fn buy(&self, context: HandlerContext<Shop>, item: &str) -> impl EventHandler<Shop> + '_ {
        let item = item.to_owned();
        self.note(format!("buy {item}"))
            .followed_by(context.transform_value(Shop::BUDGET, |b| b - 1))
            .followed_by(
                context.transform_entry(Shop::STOCK, item, |n| n.map(|n| n.saturating_sub(1))),
            )
            .followed_by(context.transform_value(Shop::TOTAL, |t| t + 1))
    }

    #[on_set(budget)]
    fn budget_set(
        &self,
        _context: HandlerContext<Shop>,
        value: &i64,
        _previous: Option<i64>,
    ) -> impl EventHandler<Shop> + '_ {
        self.note(format!("budget {value}"))
    }

    #[on_update(audit)]
    fn audit_update(
        &self,
        _context: HandlerContext<Shop>,
        _map: &HashMap<u64, String>,
        key: u64,
        _previous: Option<String>,
        new_value: &str,
    ) -> impl EventHandler<Shop> + '_ {
        self.note(format!("audit {key} {new_value}"))
    }

    #[on_stop]
    fn stop(&self, context: HandlerContext<Shop>) -> impl EventHandler<Shop> + '_ {
        // State read across handlers: the count and the history of everything noted before.
        self.count
            .get()
            .and_then(move |count| {
                self.recent
                    .with(move |recent| format!("stop after {count}: {recent:?}"))
            })
            .and_then(move |summary| self.note(summary))
            .followed_by(context.value(()))
    }
}

fn started() -> (AgentHarness<Shop, ShopLifecycle>, Log) {
    let log = Log::default();
    let mut harness = AgentHarness::builder(Shop::default(), ShopLifecycle::new(log.clone()))
        .uri("/shops/1")
        .build();
    harness.start().unwrap();
    (harness, log)
}

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

#[test]
fn initial_values_come_from_default_or_init() {
    let (harness, log) = started();
    assert_eq!(harness.value(Shop::TOTAL), 0);
    assert_eq!(harness.value(Shop::BUDGET), 100);
    assert!(harness.map(Shop::STOCK).is_empty());
    assert_eq!(take(&log), vec!["start /shops/1"]);
}

#[test]
fn a_set_runs_on_event_then_on_set() {
    let (mut harness, log) = started();
    take(&log);
    harness.set_value(Shop::TOTAL, 5).unwrap();
    harness.set_value(Shop::TOTAL, 5).unwrap();
    assert_eq!(
        take(&log),
        vec![
            "event 5",
            "set 5 from Some(0)",
            "event 5",
            "set 5 from Some(5)"
        ]
    );
}

#[test]
fn map_operations_run_their_handlers() {
    let (mut harness, log) = started();
    take(&log);
    let events = harness.record(Shop::STOCK);
    let update = |key: &str, value| MapMessage::Update {
        key: key.to_owned(),
        value,
    };
    harness.command(Shop::STOCK, update("apple", 3)).unwrap();
    harness.command(Shop::STOCK, update("apple", 4)).unwrap();
    harness.command(Shop::STOCK, update("pear", 1)).unwrap();
    harness
        .command(Shop::STOCK, MapMessage::Remove { key: "kiwi".into() })
        .unwrap();
    harness
        .command(Shop::STOCK, MapMessage::Remove { key: "pear".into() })
        .unwrap();
    harness.command(Shop::STOCK, MapMessage::Clear).unwrap();
    assert_eq!(
        take(&log),
        vec![
            "update apple None -> 3 (1 keys)",
            "update apple Some(3) -> 4 (1 keys)",
            "update pear None -> 1 (2 keys)",
            "remove pear 1",
            "clear 1",
        ]
    );
    assert_eq!(
        events.take(),
        vec![
            update("apple", 3),
            update("apple", 4),
            update("pear", 1),
            MapMessage::Remove { key: "pear".into() },
            MapMessage::Clear,
        ]
    );
}

#[test]
fn replace_map_clears_then_updates() {
    let (mut harness, log) = started();
    harness
        .command(
            Shop::STOCK,
            MapMessage::Update {
                key: "old".into(),
                value: 1,
            },
        )
        .unwrap();
    take(&log);
    harness
        .run_with(|context| {
            context.replace_map(Shop::STOCK, [("a".to_owned(), 1), ("b".to_owned(), 2)])
        })
        .unwrap();
    let mut entries = take(&log);
    assert_eq!(entries.remove(0), "clear 1");
    entries.sort();
    assert_eq!(
        entries,
        vec!["update a None -> 1 (1 keys)", "update b None -> 2 (2 keys)"]
    );
}

#[test]
fn take_and_drop_remove_entries_in_key_order() {
    let (mut harness, log) = started();
    for (rank, name) in [(3, "c"), (1, "a"), (2, "b"), (4, "d")] {
        harness
            .command(
                Shop::RANKING,
                MapMessage::Update {
                    key: rank,
                    value: name.to_owned(),
                },
            )
            .unwrap();
    }
    harness.command(Shop::RANKING, MapMessage::Take(3)).unwrap();
    harness.command(Shop::RANKING, MapMessage::Drop(1)).unwrap();
    let ranking: Vec<u32> = harness.map(Shop::RANKING).into_keys().collect();
    assert_eq!(ranking, vec![2, 3]);
    take(&log);
}

#[test]
fn a_command_runs_on_command_and_its_chain_in_order() {
    let (mut harness, log) = started();
    harness
        .command(
            Shop::STOCK,
            MapMessage::Update {
                key: "apple".into(),
                value: 3,
            },
        )
        .unwrap();
    take(&log);
    let totals = harness.record(Shop::TOTAL);
    let commands = harness.record(Shop::BUY);
    harness.command(Shop::BUY, "apple".to_owned()).unwrap();
    assert_eq!(
        take(&log),
        vec![
            "buy apple",
            "budget 99",
            "update apple Some(3) -> 2 (1 keys)",
            "event 1",
            "set 1 from Some(0)",
        ]
    );
    assert_eq!(harness.value(Shop::BUDGET), 99);
    assert_eq!(totals.take(), vec![1]);
    assert_eq!(commands.take(), vec!["apple".to_owned()]);
}

#[test]
fn subscribers_see_one_coalesced_value_per_event() {
    let (mut harness, _log) = started();
    let totals = harness.record(Shop::TOTAL);
    harness
        .run_with(|context| {
            context
                .set_value(Shop::TOTAL, 1)
                .followed_by(context.set_value(Shop::TOTAL, 2))
                .followed_by(context.set_value(Shop::TOTAL, 3))
        })
        .unwrap();
    assert_eq!(totals.take(), vec![3]);
}

#[test]
fn stores_fire_handlers_but_refuse_commands() {
    let (mut harness, log) = started();
    take(&log);
    harness
        .run_with(|context| context.update(Shop::AUDIT, 7, "checked".to_owned()))
        .unwrap();
    assert_eq!(take(&log), vec!["audit 7 checked"]);
    // `harness.command(Shop::BUDGET, 5)` does not compile: stores are no `CommandTarget`.
    // Commands addressed by name are refused at run time (see `task.rs`).
}

#[test]
fn lifecycle_state_persists_across_handlers() {
    let (mut harness, log) = started();
    harness.set_value(Shop::TOTAL, 1).unwrap();
    take(&log);
    harness.stop().unwrap();
    assert!(harness.is_stopped());
    assert_eq!(
        take(&log),
        vec![r#"stop after 3: ["start /shops/1", "event 1", "set 1 from Some(0)"]"#]
    );
}
