//! Join map lanes: an inventory whose `stock` lane joins the `items` map lane of each shop;
//! each item belongs to the shop that last wrote it. Ownership through updates, removes and
//! clears; `Delete` on a closed link; removal; links reopened after a restart.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::{note, Log, Running};
use tidal::agent::agent_model::AgentRef;
use tidal::agent::lanes::{JoinMapLane, LinkClosedResponse, MapMessage};
use tidal::prelude::*;
use tidal::store::InMemoryStore;

/// A shop and what it has in stock.
#[projections]
#[derive(AgentLaneModel)]
pub struct Shop {
    items: MapLane<String, u32>,
    /// Stops the shop (its links close).
    close: CommandLane<()>,
}

#[derive(Clone)]
pub struct ShopLifecycle;

#[lifecycle(Shop)]
impl ShopLifecycle {
    #[on_command(close)]
    fn close(&self, context: HandlerContext<Shop>, _: &()) -> impl EventHandler<Shop> {
        context.stop()
    }
}

/// The stock of every shop, joined.
#[projections]
#[derive(AgentLaneModel)]
pub struct Inventory {
    stock: JoinMapLane<String, String, u32>,
    /// Joins shop `.0`'s items.
    add_shop: CommandLane<String>,
    remove_shop: CommandLane<String>,
}

#[derive(Clone)]
pub struct InventoryLifecycle {
    log: Log,
}

#[lifecycle(Inventory)]
impl InventoryLifecycle {
    #[on_command(add_shop)]
    fn add_shop(
        &self,
        context: HandlerContext<Inventory>,
        shop: &str,
    ) -> impl EventHandler<Inventory> {
        context.add_map_downlink(
            Inventory::STOCK,
            shop.to_owned(),
            None,
            &format!("/shop/{shop}"),
            "items",
        )
    }

    #[on_command(remove_shop)]
    fn remove_shop(
        &self,
        context: HandlerContext<Inventory>,
        shop: &str,
    ) -> impl EventHandler<Inventory> {
        context.remove_map_downlink(Inventory::STOCK, shop.to_owned())
    }

    #[on_remove(stock)]
    fn removed(
        &self,
        _: HandlerContext<Inventory>,
        _: &HashMap<String, u32>,
        item: String,
        _: u32,
    ) -> impl EventHandler<Inventory> {
        note(&self.log, format!("remove {item}"))
    }

    #[on_update(stock)]
    fn updated(
        &self,
        _: HandlerContext<Inventory>,
        _: &HashMap<String, u32>,
        item: String,
        _: Option<u32>,
        count: &u32,
    ) -> impl EventHandler<Inventory> {
        note(&self.log, format!("update {item} {count}"))
    }

    #[join_map_lifecycle(stock)]
    fn links(
        &self,
        context: JoinMapContext<Inventory, String, String, u32>,
    ) -> impl JoinMapLaneLifecycle<String, String, u32, Inventory> {
        let (synced, unlinked) = (self.log.clone(), self.log.clone());
        context
            .builder()
            .on_synced(move |_, shop, _, items| {
                let items: BTreeSet<_> = items.iter().cloned().collect();
                note(&synced, format!("synced {shop} {items:?}"))
            })
            .on_unlinked(move |context, shop, _, _, items| {
                let items: BTreeSet<_> = items.iter().cloned().collect();
                note(&unlinked, format!("unlinked {shop} {items:?}"))
                    .followed_by(context.value(LinkClosedResponse::Delete))
            })
            .done()
    }
}

async fn serve(store: Option<Arc<InMemoryStore>>) -> Running {
    let log = Log::default();
    let lifecycle = InventoryLifecycle { log: log.clone() };
    let mut builder = ServerBuilder::with_plane_name("join-map")
        .add_route(
            "/shop/:id".parse().unwrap(),
            AgentModel::new(Shop::default, ShopLifecycle),
        )
        .add_route(
            "/inventory".parse().unwrap(),
            AgentModel::new(Inventory::default, lifecycle),
        );
    if let Some(store) = store {
        builder = builder.with_store(store);
    }
    let (task, server) = builder.build().await.unwrap().run();
    let task = tokio::spawn(task);
    server.start_agent("/inventory").unwrap();
    Running { server, task, log }
}

fn update(item: &str, count: u32) -> MapMessage<String, u32> {
    MapMessage::Update {
        key: item.to_owned(),
        value: count,
    }
}

impl Running {
    async fn shop(&self, shop: &str, message: MapMessage<String, u32>) {
        self.server
            .command(&format!("/shop/{shop}"), "items", message)
            .await
            .unwrap();
    }

    async fn inventory(&self, lane: &str, shop: &str) {
        self.server
            .command("/inventory", lane, shop.to_owned())
            .await
            .unwrap();
    }

    /// The inventory's stock, with the owner of each item.
    async fn stock(&self) -> HashMap<String, (u32, String)> {
        let agent: AgentRef<Inventory> = self.server.agent_ref("/inventory").unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        agent.run(StockOf { tx: Some(tx) }).await.unwrap();
        rx.await.unwrap()
    }
}

/// Sends the stock and owners.
struct StockOf {
    tx: Option<tokio::sync::oneshot::Sender<HashMap<String, (u32, String)>>>,
}

impl HandlerAction<Inventory> for StockOf {
    type Completion = ();

    fn step(
        &mut self,
        _: &mut tidal::agent::event_handler::ActionContext<Inventory>,
        _: tidal::agent::event_handler::AgentMetadata,
        agent: &Inventory,
    ) -> tidal::agent::event_handler::StepResult<()> {
        use tidal::agent::lanes::MapLikeItem;
        let stock = agent.stock.read_map(|map| {
            map.iter()
                .map(|(item, count)| {
                    let owner = agent.stock.owner(item).unwrap_or_default();
                    (item.clone(), (*count, owner))
                })
                .collect()
        });
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(stock);
        }
        tidal::agent::event_handler::StepResult::done(())
    }
}

fn owned(entries: &[(&str, u32, &str)]) -> HashMap<String, (u32, String)> {
    entries
        .iter()
        .map(|(item, count, shop)| (item.to_string(), (*count, shop.to_string())))
        .collect()
}

#[tokio::test]
async fn each_key_belongs_to_the_link_that_last_wrote_it() {
    let running = serve(None).await;
    let log = &running.log;
    running.shop("north", update("apple", 3)).await;
    running.shop("north", update("pear", 1)).await;
    running.shop("south", update("fig", 5)).await;
    running.inventory("add_shop", "north").await;
    running.inventory("add_shop", "south").await;
    log.wait_for(r#"synced north {"apple", "pear"}"#).await;
    log.wait_for(r#"synced south {"fig"}"#).await;
    // South writes apple last: it owns it now.
    running.shop("south", update("apple", 9)).await;
    log.wait_for("update apple 9").await;
    assert_eq!(
        running.stock().await,
        owned(&[
            ("apple", 9, "south"),
            ("pear", 1, "north"),
            ("fig", 5, "south")
        ])
    );
    // A remove from a link that does not own the key changes nothing.
    running
        .shop(
            "north",
            MapMessage::Remove {
                key: "apple".into(),
            },
        )
        .await;
    running.shop("north", update("kiwi", 2)).await;
    log.wait_for("update kiwi 2").await;
    assert!(!log.contains("remove apple"), "{:?}", log.lines());
    // A clear removes the keys its link owns, and only those.
    running.shop("south", MapMessage::Clear).await;
    log.wait_for("remove fig").await;
    log.wait_for("remove apple").await;
    assert_eq!(
        running.stock().await,
        owned(&[("pear", 1, "north"), ("kiwi", 2, "north")])
    );
    running.stop().await;
}

#[tokio::test]
async fn a_closed_link_deletes_its_keys_and_removing_a_link_removes_them_too() {
    let running = serve(None).await;
    let log = &running.log;
    running.shop("north", update("apple", 3)).await;
    running.shop("south", update("fig", 5)).await;
    running.shop("east", update("plum", 7)).await;
    for shop in ["north", "south", "east"] {
        running.inventory("add_shop", shop).await;
    }
    log.wait_for(r#"synced east {"plum"}"#).await;
    log.wait_for(r#"synced north {"apple"}"#).await;
    log.wait_for(r#"synced south {"fig"}"#).await;
    // The shop stops: its link closes, and the lifecycle answers `Delete`.
    running
        .server
        .command("/shop/south", "close", ())
        .await
        .unwrap();
    log.wait_for(r#"unlinked south {"fig"}"#).await;
    log.wait_for("remove fig").await;
    // Removing a link removes its keys, without `on_unlinked`.
    running.inventory("remove_shop", "east").await;
    log.wait_for("remove plum").await;
    assert!(
        !log.contains(r#"unlinked east {"plum"}"#),
        "{:?}",
        log.lines()
    );
    assert_eq!(running.stock().await, owned(&[("apple", 3, "north")]));
    running.stop().await;
}

#[tokio::test]
async fn an_inventory_started_again_on_its_store_opens_its_links_again() {
    let store = Arc::new(InMemoryStore::new());
    let running = serve(Some(store.clone())).await;
    running.shop("north", update("apple", 3)).await;
    running.inventory("add_shop", "north").await;
    running.log.wait_for("update apple 3").await;
    running.stop().await;

    let running = serve(Some(store)).await;
    running.log.wait_for(r#"synced north {"apple"}"#).await;
    assert_eq!(running.stock().await, owned(&[("apple", 3, "north")]));
    running.stop().await;
}
