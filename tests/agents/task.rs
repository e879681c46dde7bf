//! Agents running as their own task (`AgentModel::spawn`), fed through their inbox.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tidal::agent::{
    agent_lifecycle::HandlerContext,
    agent_model::{AgentModel, SendError},
    config::AgentConfig,
    event_handler::{EventHandler, HandlerActionExt},
    lanes::{CommandLane, ValueLane},
    lifecycle, projections,
    state::State,
    stores::ValueStore,
    AgentLaneModel,
};
use tokio::sync::mpsc;

#[projections]
#[derive(AgentLaneModel)]
pub struct Room {
    temperature: ValueLane<f64>,
    report: CommandLane<String>,
    secret: ValueStore<u32>,
}

/// Not `Clone`, and holds `State` (so it is not `Sync` either): built per instance.
pub struct RoomLifecycle {
    events: mpsc::UnboundedSender<String>,
    seen: State<Room, u32>,
}

#[lifecycle(Room)]
impl RoomLifecycle {
    #[on_start]
    fn start(&self, context: HandlerContext<Room>) -> impl EventHandler<Room> + '_ {
        let events = self.events.clone();
        context.get_parameter("id").and_then(move |id| {
            context.effect(move || events.send(format!("start {id:?}")).unwrap())
        })
    }

    #[on_event(temperature)]
    fn temperature(&self, context: HandlerContext<Room>, t: &f64) -> impl EventHandler<Room> + '_ {
        let (t, events) = (*t, self.events.clone());
        self.seen
            .with_mut(|n| {
                *n += 1;
                *n
            })
            .and_then(move |n| {
                context.effect(move || events.send(format!("temperature {t} ({n})")).unwrap())
            })
    }

    #[on_command(report)]
    fn report(&self, context: HandlerContext<Room>, text: &str) -> impl EventHandler<Room> + '_ {
        let (text, events) = (text.to_owned(), self.events.clone());
        context.effect(move || events.send(format!("report {text}")).unwrap())
    }

    #[on_stop]
    fn stop(&self, context: HandlerContext<Room>) -> impl EventHandler<Room> + '_ {
        let events = self.events.clone();
        context.effect(move || events.send("stop".to_owned()).unwrap())
    }
}

fn model(events: mpsc::UnboundedSender<String>) -> AgentModel<Room, RoomLifecycle> {
    AgentModel::from_fn(Room::default, move || RoomLifecycle {
        events: events.clone(),
        seen: State::default(),
    })
}

async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
        .await
        .expect("timed out waiting for the agent")
        .expect("the agent dropped its sender")
}

#[tokio::test]
async fn a_spawned_agent_takes_commands_from_its_inbox_and_runs_on_stop() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let parameters = HashMap::from([("id".to_owned(), "kitchen".to_owned())]);
    let (agent, task) = model(tx).spawn("/rooms/kitchen", parameters, AgentConfig::default());
    assert_eq!(agent.uri(), "/rooms/kitchen");
    assert_eq!(next(&mut rx).await, r#"start Some("kitchen")"#);

    agent.command("temperature", 21.5f64).await.unwrap();
    agent.command("report", "hot".to_owned()).await.unwrap();
    agent.command("temperature", 22.0f64).await.unwrap();
    assert_eq!(next(&mut rx).await, "temperature 21.5 (1)");
    assert_eq!(next(&mut rx).await, "report hot");
    assert_eq!(next(&mut rx).await, "temperature 22 (2)");

    // Bad input: an unknown lane, or a store (not visible from outside), is refused at once; a
    // value of the wrong type is logged and dropped, and the agent keeps running.
    assert_eq!(
        agent.command("humidity", 1).await,
        Err(SendError::LaneNotFound("humidity".to_owned()))
    );
    assert_eq!(
        agent.command("secret", 5u32).await,
        Err(SendError::LaneNotFound("secret".to_owned()))
    );
    agent.command("temperature", "warm").await.unwrap();
    agent
        .command("report", "still here".to_owned())
        .await
        .unwrap();
    assert_eq!(next(&mut rx).await, "report still here");

    agent.stop().await.unwrap();
    assert_eq!(next(&mut rx).await, "stop");
    task.await.unwrap();
    assert!(agent.is_stopped());
    assert_eq!(
        agent.command("report", "late".to_owned()).await,
        Err(SendError::Stopped)
    );
}

#[tokio::test]
async fn each_instance_gets_its_own_lifecycle_and_lanes() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let model = model(tx);
    let (a, task_a) = model.spawn("/rooms/a", HashMap::new(), AgentConfig::default());
    let (b, task_b) = model.spawn("/rooms/b", HashMap::new(), AgentConfig::default());
    let mut seen = vec![next(&mut rx).await, next(&mut rx).await];
    seen.sort();
    assert_eq!(seen, vec!["start None", "start None"]);
    a.command("temperature", 1.0f64).await.unwrap();
    assert_eq!(next(&mut rx).await, "temperature 1 (1)");
    b.command("temperature", 2.0f64).await.unwrap();
    assert_eq!(next(&mut rx).await, "temperature 2 (1)");
    let ran = Arc::new(Mutex::new(false));
    let flag = ran.clone();
    a.run(HandlerContext::<Room>::default().effect(move || *flag.lock().unwrap() = true))
        .await
        .unwrap();
    drop((a, b));
    // Dropping every reference stops the agents (on_stop runs).
    assert_eq!(next(&mut rx).await, "stop");
    assert_eq!(next(&mut rx).await, "stop");
    task_a.await.unwrap();
    task_b.await.unwrap();
    assert!(*ran.lock().unwrap());
}
