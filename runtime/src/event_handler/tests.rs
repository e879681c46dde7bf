use std::collections::HashMap;

use super::*;
use crate::config::AgentConfig;
use crate::vocabulary::OutgoingCommand;

struct Dummy;

/// An outbox that keeps nothing: these handlers register no async work.
struct NoOutbox;

impl Outbox<Dummy> for NoOutbox {
    fn wake_on(&mut self, _: futures::future::BoxFuture<'static, Wakeup<Dummy>>) {}
    fn send_command(&mut self, _: OutgoingCommand) {}
    fn downlinks(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Steps `handler` to completion, returning the modifications seen and the result.
fn run<H: HandlerAction<Dummy>>(
    mut handler: H,
) -> (Vec<Modification>, Result<H::Completion, EventHandlerError>) {
    let mut effects = NoOutbox;
    let parameters = HashMap::new();
    let config = AgentConfig::default();
    let instance = AgentInstance::new("/dummy", &parameters, &config);
    let meta = AgentMetadata::new(&instance);
    let mut modifications = Vec::new();
    for _ in 0..100 {
        let mut context = ActionContext::new(&mut effects);
        match handler.step(&mut context, meta, &Dummy) {
            StepResult::Continue { modified } => modifications.extend(modified),
            StepResult::Complete { modified, result } => {
                modifications.extend(modified);
                return (modifications, Ok(result));
            }
            StepResult::Fail(err) => return (modifications, Err(*err)),
        }
    }
    panic!("handler did not complete in 100 steps");
}

/// A constant handler for the dummy agent (fixing the agent type for inference).
fn value<T>(v: T) -> impl HandlerAction<Dummy, Completion = T> {
    ConstHandler::new(v)
}

/// A handler that reports a modification of `id` and completes with `value`.
fn modifying(id: u64, value: i32) -> impl HandlerAction<Dummy, Completion = i32> {
    OnceHandler::new(move |_: &mut ActionContext<Dummy>, _, _: &Dummy| {
        StepResult::modified(Modification::of(id), value)
    })
}

#[test]
fn map_transforms_the_result() {
    let (mods, result) = run(value(2).map(|n| n * 10));
    assert!(mods.is_empty());
    assert_eq!(result.unwrap(), 20);
}

#[test]
fn and_then_passes_the_result_and_keeps_modifications_between_steps() {
    let handler = modifying(1, 3).and_then(|n| modifying(2, n + 1));
    let (mods, result) = run(handler);
    assert_eq!(mods, vec![Modification::of(1), Modification::of(2)]);
    assert_eq!(result.unwrap(), 4);
}

#[test]
fn followed_by_discards_the_first_result() {
    let (_, result) = run(value("first").followed_by(value(7)));
    assert_eq!(result.unwrap(), 7);
}

#[test]
fn and_then_contextual_sees_the_agent() {
    let (_, result) = run(value(1).and_then_contextual(|_: &Dummy, n| value(n + 1)));
    assert_eq!(result.unwrap(), 2);
}

#[test]
fn stepping_after_completion_fails() {
    let mut effects = NoOutbox;
    let parameters = HashMap::new();
    let config = AgentConfig::default();
    let instance = AgentInstance::new("/dummy", &parameters, &config);
    let meta = AgentMetadata::new(&instance);
    let mut handler = value(1).and_then(value);
    let mut context = ActionContext::new(&mut effects);
    assert!(matches!(
        handler.step(&mut context, meta, &Dummy),
        StepResult::Complete { result: 1, .. }
    ));
    assert!(matches!(
        handler.step(&mut context, meta, &Dummy),
        StepResult::Fail(err) if matches!(*err, EventHandlerError::SteppedAfterComplete)
    ));
}

#[test]
fn sequentially_runs_every_handler_in_order() {
    let order = std::cell::RefCell::new(Vec::new());
    let handlers = (0..3).map(|i| {
        let order = &order;
        SideEffect::new(move || order.borrow_mut().push(i)).followed_by(modifying(i, 0).discard())
    });
    let (mods, result) = run(Sequentially::new(handlers));
    assert!(result.is_ok());
    assert_eq!(*order.borrow(), vec![0, 1, 2]);
    assert_eq!(mods.len(), 3);
}

#[test]
fn sequentially_stops_at_the_first_failure() {
    let handlers: Vec<BoxEventHandler<Dummy>> = vec![
        Box::new(UnitHandler::default()),
        Box::new(Stop::default()),
        Box::new(modifying(9, 0).discard()),
    ];
    let (mods, result) = run(Sequentially::new(handlers));
    assert!(matches!(result, Err(EventHandlerError::StopInstructed)));
    assert!(mods.is_empty());
}

#[test]
fn either_and_option_run_the_chosen_branch() {
    let left: Either<ConstHandler<i32>, ConstHandler<i32>> = Either::Left(ConstHandler::new(1));
    assert_eq!(run(left).1.unwrap(), 1);
    assert_eq!(run(Some(ConstHandler::new(5))).1.unwrap(), Some(5));
    assert_eq!(run(None::<ConstHandler<i32>>).1.unwrap(), None);
}

#[test]
fn try_handler_turns_errors_into_failures() {
    let ok = value(Ok::<i32, std::fmt::Error>(3));
    assert_eq!(run(ok.try_handler()).1.unwrap(), 3);
    let err = value(Err::<i32, _>(std::fmt::Error));
    assert!(matches!(
        run(err.try_handler()).1,
        Err(EventHandlerError::Effect(_))
    ));
}

#[test]
fn fail_and_stop_report_their_errors() {
    let (_, result) = run(Fail::<(), _>::new(std::fmt::Error));
    assert!(matches!(result, Err(EventHandlerError::Effect(_))));
    let (_, result) = run(Stop::default());
    assert!(matches!(result, Err(EventHandlerError::StopInstructed)));
}

#[test]
fn metadata_handlers_read_the_agent_instance() {
    let (_, uri) = run(GetAgentUri::default());
    assert_eq!(uri.unwrap(), "/dummy");
    let (_, missing) = run(GetParameter::new("id"));
    assert_eq!(missing.unwrap(), None);
}

#[test]
fn boxed_handlers_behave_like_the_original() {
    let handler = modifying(4, 1).boxed();
    let (mods, result) = run(handler);
    assert_eq!(mods, vec![Modification::of(4)]);
    assert_eq!(result.unwrap(), 1);
}
