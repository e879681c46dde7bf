//! How an agent instance handles what reaches its inbox: commands, links, syncs, HTTP
//! requests, handlers, stops.

use crate::agent_lifecycle::AgentLifecycle;
use crate::agent_model::AgentLaneModel;
use crate::environment::Request;
use crate::event_handler::BoxEventHandler;
use crate::introspection::{clip, Rejection, LOG_INTERVAL};
use crate::lanes::{AgentItem, ModificationSink, StatusCode, UnlinkReason};
use crate::vocabulary::Modification;

use super::{AgentCore, HandlerFailure, Source};

impl<A, L> AgentCore<A, L>
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    /// Handles a message from the inbox.
    ///
    /// During a burst, consecutive commands publish their changes together when the burst
    /// ends or another kind of request comes (subscribers of a value lane see its latest
    /// value, of a map lane the latest operation per key, of a command or supply lane every
    /// value: what they would see anyway once the connection coalesces); any other request
    /// first publishes what the commands before it changed, so that links and syncs see the
    /// same sequence as outside a burst.
    pub(crate) fn request(&mut self, request: Request) -> Result<(), HandlerFailure> {
        let command = request.is_command();
        if self.deferring && !command {
            self.publish_deferred();
        }
        self.deferring = command && self.bursting;
        match request {
            Request::Command {
                lane,
                payload,
                sender,
            } => match A::lane_id(&lane) {
                Some(id) => self.command_from(id, payload, sender),
                None => {
                    self.refused(Rejection::UnknownLane, &lane, "no such lane");
                    Ok(())
                }
            },
            Request::Link { lane, subscriber } => {
                let Some((id, item)) = self.lane(&lane) else {
                    tracing::debug!(node = %self.uri, %lane, "link to an unknown lane refused");
                    subscriber.refuse(UnlinkReason::LaneNotFound);
                    return Ok(());
                };
                tracing::debug!(node = %self.uri, %lane, link = subscriber.id(), "link");
                item.link(subscriber);
                let awaits_cue = item.awaits_cue();
                if let Some(meta) = &mut self.meta {
                    meta.linked(id, true, self.downlinks.len());
                }
                if !awaits_cue {
                    return Ok(());
                }
                // A demand lane's sync is computed by its lifecycle, as for a cue.
                self.run_item_handlers(id)
            }
            Request::Unlink { lane, link } => {
                tracing::debug!(node = %self.uri, %lane, link, "unlink");
                if let Some((id, item)) = self.lane(&lane) {
                    if item.unlink(link) {
                        if let Some(meta) = &mut self.meta {
                            meta.linked(id, false, self.downlinks.len());
                        }
                    }
                }
                Ok(())
            }
            Request::Meta {
                address,
                subscriber,
            } => {
                match &mut self.meta {
                    Some(meta) => {
                        meta.link(&self.agent, self.downlinks.len(), address, subscriber);
                    }
                    None => subscriber.refuse(UnlinkReason::NodeNotFound),
                }
                Ok(())
            }
            Request::MetaUnlink { address, link } => {
                if let Some(meta) = &mut self.meta {
                    meta.unlink::<A>(&address, link);
                }
                Ok(())
            }
            Request::Run(handler) => match handler.downcast::<BoxEventHandler<'static, A>>() {
                Ok(handler) => self.run(*handler),
                Err(_) => {
                    tracing::error!(node = %self.uri, "a handler for another agent type was sent to this agent");
                    Ok(())
                }
            },
            Request::Http { lane, exchange } => {
                let Some((id, item)) = self.lane(&lane) else {
                    exchange.fail(StatusCode::NOT_FOUND, format!("no lane `{lane}`"));
                    return Ok(());
                };
                if let Err(exchange) = item.http(exchange) {
                    let message = format!("lane `{lane}` is not an HTTP lane");
                    exchange.fail(StatusCode::NOT_FOUND, message);
                    return Ok(());
                }
                // Its handler answers, as for a change of the lane.
                self.run_item_handlers(id)
            }
            Request::Stop(reason) => {
                self.stop_for(reason);
                Ok(())
            }
        }
    }

    /// Counts a command from outside that the agent refused, and logs it unless a line was
    /// logged less than an interval ago (then the next line counts it): a client sending
    /// garbage cannot fill the log. `why` may hold what the client sent: it is clipped.
    pub(super) fn refused(&mut self, rejection: Rejection, lane: &str, why: &str) {
        if let Some(meta) = &self.meta {
            meta.rejected(rejection);
        }
        if let Some(suppressed) = self.refused_log.admit(rejection) {
            let (lane, why) = (clip(lane), clip(why));
            tracing::warn!(node = %self.uri, %lane, %why, suppressed, "command dropped ({}); later ones are counted, one line per {:?}", rejection.label(), LOG_INTERVAL);
        }
    }

    /// The lane with this external name, and its id.
    pub(super) fn lane(&self, name: &str) -> Option<(u64, &dyn AgentItem)> {
        let id = A::lane_id(name)?;
        Some((id, self.agent.item(id)?))
    }

    /// Runs the lifecycle handlers of the item `id` as one event, as for a change of the item.
    pub(super) fn run_item_handlers(&mut self, id: u64) -> Result<(), HandlerFailure> {
        self.execute(Source::Lane(id), true, |_, runner| {
            runner.modified(Modification::of(id))
        })
    }
}
