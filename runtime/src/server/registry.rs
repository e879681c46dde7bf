//! The agents of a server, by node URI: found, or started from their route.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::task::JoinHandle;

use super::route::RoutePattern;
use crate::agent_lifecycle::AgentLifecycle;
use crate::agent_model::{AgentLaneModel, AgentModel, Hosting};
use crate::config::AgentConfig;
use crate::environment::RemoteHosts;
use crate::environment::{post_link, post_unlink, Environment, Mailbox, Request};
use crate::introspection::{self, HostMeta, MetaNode, Metrics};
use crate::lanes::{LinkSubscriber, UnlinkReason};
use crate::lock::lock;
use crate::remote::{RemoteConfig, RemotePool};
use crate::store::Store;

/// Starts agent instances of one type (an `AgentModel`, type-erased).
pub(crate) trait AgentFactory: Send + Sync + 'static {
    fn start(
        &self,
        uri: String,
        parameters: HashMap<String, String>,
        config: AgentConfig,
        hosting: Hosting,
    ) -> (Mailbox, JoinHandle<()>);
}

impl<A, L> AgentFactory for AgentModel<A, L>
where
    A: AgentLaneModel,
    L: AgentLifecycle<A>,
{
    fn start(
        &self,
        uri: String,
        parameters: HashMap<String, String>,
        config: AgentConfig,
        hosting: Hosting,
    ) -> (Mailbox, JoinHandle<()>) {
        let (mailbox, _, task) = AgentModel::start(self, uri, parameters, config, hosting);
        (mailbox, task)
    }
}

pub(crate) struct Route {
    pub(crate) pattern: RoutePattern,
    pub(crate) factory: Arc<dyn AgentFactory>,
}

struct Running {
    mailbox: Mailbox,
    task: JoinHandle<()>,
}

/// What watches a server's agents: the host's meta node (which keeps their counts), whether
/// it is served (introspection), and the metrics.
pub(crate) struct Observers {
    pub(crate) meta: Option<Arc<HostMeta>>,
    pub(crate) introspection: bool,
    pub(crate) metrics: Option<Arc<Metrics>>,
}

/// The server's agents.
pub(crate) struct Registry {
    routes: Vec<Route>,
    config: AgentConfig,
    remote: RemotePool,
    agents: Mutex<HashMap<String, Running>>,
    /// Where the agents keep their state, if anywhere.
    store: Option<Arc<dyn Store>>,
    /// The host's meta node, if the server has introspection or metrics.
    meta: Option<Arc<HostMeta>>,
    /// Whether the meta nodes are served.
    introspection: bool,
    stopping: AtomicBool,
    this: Weak<Registry>,
}

impl Registry {
    pub(crate) fn new(
        routes: Vec<Route>,
        config: AgentConfig,
        remote: RemoteConfig,
        store: Option<Arc<dyn Store>>,
        observers: Observers,
    ) -> Arc<Self> {
        Arc::new_cyclic(|this| Registry {
            routes,
            config,
            remote: RemotePool::new(remote).with_metrics(observers.metrics),
            agents: Mutex::new(HashMap::new()),
            store,
            meta: observers.meta,
            introspection: observers.introspection,
            stopping: AtomicBool::new(false),
            this: this.clone(),
        })
    }

    fn agents(&self) -> MutexGuard<'_, HashMap<String, Running>> {
        lock(&self.agents)
    }

    /// How many agents are running.
    pub(crate) fn running(&self) -> usize {
        self.agents()
            .values()
            .filter(|agent| !agent.mailbox.is_closed())
            .count()
    }

    /// Stops every agent (each runs `on_stop`) and waits for their tasks.
    pub(crate) async fn stop_all(&self) {
        self.stopping.store(true, Ordering::Release);
        let agents: Vec<Running> = self.agents().drain().map(|(_, agent)| agent).collect();
        for agent in &agents {
            // An agent that already stopped has closed its inbox.
            let _ = agent.mailbox.send(Request::Stop).await;
        }
        for agent in agents {
            if let Err(err) = agent.task.await {
                tracing::error!(%err, "an agent task panicked");
            }
        }
    }
}

impl Environment for Registry {
    fn remote(&self) -> Option<&dyn RemoteHosts> {
        Some(&self.remote)
    }

    fn meta_link(&self, node: &str, lane: &str, subscriber: LinkSubscriber) {
        let Some(host) = self.meta.as_ref().filter(|_| self.introspection) else {
            subscriber.refuse(UnlinkReason::NodeNotFound);
            return;
        };
        let address = match introspection::parse(node, lane) {
            Ok(address) => address,
            Err(reason) => {
                subscriber.refuse(reason);
                return;
            }
        };
        let target = match &address.node {
            MetaNode::Host => {
                host.link(address.lane, address.query, subscriber);
                return;
            }
            MetaNode::Node(node) | MetaNode::Lane { node, .. } => node,
        };
        // Looking at an agent never starts it.
        match self.resolve_running(target) {
            Some(mailbox) => post_link(
                &mailbox,
                Request::Meta {
                    address,
                    subscriber,
                },
            ),
            None => subscriber.refuse(UnlinkReason::NodeNotFound),
        }
    }

    fn meta_unlink(&self, node: &str, lane: &str, link: u64) {
        let host = self.meta.as_ref().filter(|_| self.introspection);
        let (Some(host), Ok(address)) = (host, introspection::parse(node, lane)) else {
            return;
        };
        let target = match &address.node {
            MetaNode::Host => {
                host.unlink(address.lane, link);
                return;
            }
            MetaNode::Node(node) | MetaNode::Lane { node, .. } => node,
        };
        if let Some(mailbox) = self.resolve_running(target) {
            post_unlink(&mailbox, Request::MetaUnlink { address, link });
        }
    }

    fn serves(&self, node: &str) -> bool {
        self.routes
            .iter()
            .any(|route| route.pattern.match_uri(node).is_some())
    }

    fn resolve_running(&self, node: &str) -> Option<Mailbox> {
        self.agents()
            .get(node)
            .filter(|agent| !agent.mailbox.is_closed())
            .map(|agent| agent.mailbox.clone())
    }

    fn resolve(&self, node: &str) -> Result<Mailbox, UnlinkReason> {
        let mut agents = self.agents();
        if let Some(agent) = agents.get(node) {
            if !agent.mailbox.is_closed() {
                return Ok(agent.mailbox.clone());
            }
        }
        if self.stopping.load(Ordering::Acquire) {
            return Err(UnlinkReason::AgentStopped);
        }
        let Some((route, parameters)) = self
            .routes
            .iter()
            .find_map(|route| route.pattern.match_uri(node).map(|params| (route, params)))
        else {
            return Err(UnlinkReason::NodeNotFound);
        };
        let Some(this) = self.this.upgrade() else {
            return Err(UnlinkReason::AgentStopped);
        };
        let hosting = Hosting {
            environment: Some(this),
            store: self.store.clone(),
            meta: self.meta.clone(),
        };
        let (mailbox, task) =
            route
                .factory
                .start(node.to_owned(), parameters, self.config.clone(), hosting);
        agents.insert(
            node.to_owned(),
            Running {
                mailbox: mailbox.clone(),
                task,
            },
        );
        Ok(mailbox)
    }
}
