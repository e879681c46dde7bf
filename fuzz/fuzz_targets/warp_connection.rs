//! A whole WARP connection, in-process: the input is a sequence of frames (separated by NUL
//! bytes; a frame that is not UTF-8 goes as a binary frame) sent to a server with a
//! `/unit/:id` agent (a value lane `value`, a map lane `map`, a command lane `add`). The
//! server must answer or close without panicking, whatever the frames, and keep serving: a
//! well-formed sync on a fresh connection afterwards always gets its `@synced`.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tidal_runtime::agent_lifecycle::AgentLifecycle;
use tidal_runtime::agent_model::{AgentLaneModel, AgentModel};
use tidal_runtime::lanes::{AgentItem, CommandLane, Item, ItemKind, ItemSpec, MapLane, ValueLane};
use tidal_runtime::server::{RoutePattern, ServerBuilder, ServerHandle};

struct Unit {
    value: ValueLane<i32>,
    map: MapLane<String, i32>,
    add: CommandLane<i32>,
}

const fn spec(id: u64, name: &'static str, kind: ItemKind) -> ItemSpec {
    ItemSpec {
        id,
        name,
        field: name,
        kind,
        transient: true,
        reset_on_decode_error: false,
    }
}

impl Default for Unit {
    fn default() -> Self {
        Unit {
            value: ValueLane::create(0, 0),
            map: MapLane::create(1, Default::default()),
            add: CommandLane::create(2, ()),
        }
    }
}

impl AgentLaneModel for Unit {
    const ITEMS: &'static [ItemSpec] = &[
        spec(0, "value", ItemKind::ValueLane),
        spec(1, "map", ItemKind::MapLane),
        spec(2, "add", ItemKind::CommandLane),
    ];

    fn item(&self, id: u64) -> Option<&dyn AgentItem> {
        match id {
            0 => Some(&self.value),
            1 => Some(&self.map),
            2 => Some(&self.add),
            _ => None,
        }
    }

    fn item_id(name: &str) -> Option<u64> {
        Self::ITEMS.iter().find(|spec| spec.name == name).map(|spec| spec.id)
    }
}

#[derive(Clone)]
struct UnitLifecycle;

impl AgentLifecycle<Unit> for UnitLifecycle {}

fn runtime() -> &'static (tokio::runtime::Runtime, ServerHandle) {
    static SERVER: OnceLock<(tokio::runtime::Runtime, ServerHandle)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let handle = runtime.block_on(async {
            let server = ServerBuilder::with_plane_name("fuzz")
                .add_route(
                    RoutePattern::parse_str("/unit/:id").expect("a route"),
                    AgentModel::new(Unit::default, UnitLifecycle),
                )
                .build()
                .await
                .expect("builds");
            let (task, handle) = server.run();
            tokio::spawn(task);
            handle
        });
        (runtime, handle)
    })
}

fuzz_target!(|data: &[u8]| {
    let frames: Vec<Vec<u8>> = data.split(|b| *b == 0).take(64).map(<[u8]>::to_vec).collect();
    let (runtime, server) = runtime();
    runtime.block_on(async {
        server.run_connection_in_memory(&frames, Duration::ZERO).await;
        let probe = [br#"@sync(node:"/unit/probe",lane:value)"#.to_vec()];
        let answer = server
            .run_connection_in_memory(&probe, Duration::from_millis(100))
            .await;
        assert!(
            answer.iter().any(|frame| frame.starts_with("@synced")),
            "the server stopped serving after {frames:?}: {answer:?}"
        );
    });
});
