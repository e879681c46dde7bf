//! The agents of a server, by node URI: found, or started from their route.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use futures::FutureExt;
use tokio::task::JoinHandle;

use super::plane::{Owner, Plane};
use super::proxy::{self, Target};
use super::route::RoutePattern;
use crate::agent_lifecycle::AgentLifecycle;
use crate::agent_model::{AgentLaneModel, AgentModel, Finished, Hosting};
use crate::cluster::ShardEvent;
use crate::config::AgentConfig;
use crate::environment::RemoteHosts;
use crate::environment::{post_link, post_unlink, Environment, Mailbox, Request};
use crate::introspection::{self, HostMeta, MetaNode, Metrics};
use crate::lanes::{LinkSubscriber, UnlinkReason};
use crate::lock::lock;
use crate::remote::{RemoteConfig, RemotePool};
use crate::store::io::StoreIo;
use crate::vocabulary::canonical_node_uri;

/// Starts agent instances of one type (an `AgentModel`, type-erased).
pub(crate) trait AgentFactory: Send + Sync + 'static {
    fn start(
        &self,
        uri: String,
        parameters: HashMap<String, String>,
        config: AgentConfig,
        hosting: Hosting,
    ) -> (Mailbox, JoinHandle<()>);

    /// The agent type it starts, and its name (for errors).
    fn agent_type(&self) -> (std::any::TypeId, &'static str);
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

    fn agent_type(&self) -> (std::any::TypeId, &'static str) {
        (std::any::TypeId::of::<A>(), std::any::type_name::<A>())
    }
}

pub(crate) struct Route {
    pub(crate) pattern: RoutePattern,
    pub(crate) factory: Arc<dyn AgentFactory>,
}

struct Running {
    mailbox: Mailbox,
    /// The end of its task.
    finished: Finished,
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
    store: Option<StoreIo>,
    /// The host's meta node, if the server has introspection or metrics.
    meta: Option<Arc<HostMeta>>,
    /// Whether the meta nodes are served.
    introspection: bool,
    /// The plane this server is a member of, if it is one.
    plane: Option<Arc<Plane>>,
    /// The stand-ins of the nodes requested on this member (in a plane, every request for a
    /// node goes through one), by node and by whether they forward.
    proxies: Mutex<HashMap<(String, bool), Mailbox>>,
    stopping: AtomicBool,
    this: Weak<Registry>,
}

impl Registry {
    pub(crate) fn new(
        routes: Vec<Route>,
        config: AgentConfig,
        remote: RemoteConfig,
        store: Option<StoreIo>,
        observers: Observers,
        plane: Option<Arc<Plane>>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|this| Registry {
            routes,
            config,
            remote: RemotePool::new(remote).with_metrics(observers.metrics),
            agents: Mutex::new(HashMap::new()),
            store,
            meta: observers.meta,
            introspection: observers.introspection,
            plane,
            proxies: Mutex::new(HashMap::new()),
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
        for (_, proxy) in lock(&self.proxies).drain() {
            let _ = proxy.try_send(Request::Stop(UnlinkReason::ServerStopping));
        }
        self.stop_where(|_| true, UnlinkReason::ServerStopping)
            .await;
    }

    /// Stops the agents whose nodes `which` picks, and waits for their tasks; their links end
    /// with `reason`.
    async fn stop_where(&self, which: impl Fn(&str) -> bool, reason: UnlinkReason) {
        let agents: Vec<Running> = {
            let mut running = self.agents();
            let nodes: Vec<String> = running.keys().filter(|node| which(node)).cloned().collect();
            nodes
                .iter()
                .filter_map(|node| running.remove(node))
                .collect()
        };
        for agent in &agents {
            // An agent that already stopped has closed its inbox.
            let _ = agent.mailbox.send(Request::Stop(reason.clone())).await;
        }
        for agent in agents {
            agent.finished.await;
        }
    }
}

/// What a member of a plane does.
impl Registry {
    /// Follows a change of what this member holds, or of the plane's members: the agents of a
    /// shard that went elsewhere stop (their state is stored turn by turn), and requests
    /// waiting for an owner look again.
    pub(crate) async fn shard_event(&self, event: ShardEvent) {
        let Some(plane) = &self.plane else {
            return;
        };
        match event {
            ShardEvent::Gained(..) => {}
            ShardEvent::Lost(shard) => {
                plane.lose(shard);
                self.stop_where(|node| plane.shard_of(node) == shard, UnlinkReason::Moved)
                    .await;
            }
            ShardEvent::Handing(shard, handing) => {
                plane.lose(shard);
                self.stop_where(|node| plane.shard_of(node) == shard, UnlinkReason::Moved)
                    .await;
                handing.done();
            }
            ShardEvent::Members(members) => plane.set_members(members),
        }
        plane.changed();
    }

    /// Takes the stand-in for `node` whose inbox is `mailbox` out of the registry (it is idle
    /// and ends); a newer stand-in for the node stays.
    pub(crate) fn forget_stand_in(
        &self,
        node: &str,
        forward: bool,
        mailbox: &tokio::sync::mpsc::WeakSender<Request>,
    ) {
        let mut proxies = lock(&self.proxies);
        let key = (node.to_owned(), forward);
        let same = proxies.get(&key).is_some_and(|proxy| {
            mailbox
                .upgrade()
                .is_some_and(|mine| mine.same_channel(proxy))
        });
        if same {
            proxies.remove(&key);
        }
    }

    /// Whether the server is stopping.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Where requests for `node` go now: here, or to the member that placement gives it to.
    /// Waits while the node has no usable owner (placement gives it to this member, which has
    /// not claimed it yet).
    ///
    /// # Errors
    /// [`UnlinkReason::Unreachable`] if the node has no owner within the plane's patience;
    /// [`UnlinkReason::ServerStopping`] if the server is stopping.
    pub(crate) async fn target(&self, node: &str) -> Result<Target, UnlinkReason> {
        let Some(plane) = &self.plane else {
            return self.start_here(node).map(Target::Here);
        };
        let deadline = tokio::time::Instant::now() + plane.patience();
        let mut changes = plane.changes();
        loop {
            changes.borrow_and_update();
            match plane.owner(node) {
                Owner::Here => return self.start_here(node).map(Target::Here),
                Owner::There(address) => return Ok(Target::There(address)),
                Owner::Unknown => {}
            }
            if self.stopping() {
                return Err(UnlinkReason::ServerStopping);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(UnlinkReason::Unreachable(format!(
                    "no member of the plane owns {node} (shard {})",
                    plane.shard_of(node)
                )));
            }
            // A change of ownership or membership wakes it; it also looks again every tick,
            // as a lease that was briefly unusable (a late renewal) becomes usable again with
            // no event.
            let _ =
                tokio::time::timeout_at(deadline.min(now + plane.keeper.tick), changes.changed())
                    .await;
        }
    }

    /// The inbox for `node` on a member of a plane: the node's stand-in, which sends requests
    /// wherever its agent runs (`forward`: for this server's clients and agents), or links
    /// only to this server's agent (for requests another member forwarded).
    fn resolve_member(
        &self,
        plane: &Arc<Plane>,
        node: &str,
        forward: bool,
    ) -> Result<Mailbox, UnlinkReason> {
        if !self.serves(node) {
            return Err(UnlinkReason::NodeNotFound);
        }
        if self.stopping() {
            return Err(UnlinkReason::ServerStopping);
        }
        let mut proxies = lock(&self.proxies);
        let key = (node.to_owned(), forward);
        if let Some(proxy) = proxies.get(&key).filter(|proxy| !proxy.is_closed()) {
            return Ok(proxy.clone());
        }
        let proxy = proxy::spawn(self.this.clone(), plane.clone(), node.to_owned(), forward);
        proxies.insert(key, proxy.clone());
        Ok(proxy)
    }
}

/// A member's registry as seen by a connection from another member: nothing is forwarded again.
struct PeerView(Arc<Registry>);

impl Environment for PeerView {
    fn resolve(&self, node: &str) -> Result<Mailbox, UnlinkReason> {
        match &self.0.plane {
            Some(plane) => self
                .0
                .resolve_member(plane, &canonical_node_uri(node), false),
            None => self.0.resolve(node),
        }
    }

    fn resolve_running(&self, node: &str) -> Option<Mailbox> {
        self.0.resolve_running(node)
    }

    fn serves(&self, node: &str) -> bool {
        self.0.serves(node)
    }

    fn remote(&self) -> Option<&dyn RemoteHosts> {
        self.0.remote()
    }

    fn meta_link(&self, node: &str, lane: &str, subscriber: LinkSubscriber) {
        self.0.meta_link(node, lane, subscriber);
    }

    fn meta_unlink(&self, node: &str, lane: &str, link: u64) {
        self.0.meta_unlink(node, lane, link);
    }
}

impl Environment for Registry {
    fn for_peer(&self, plane: &str) -> Option<Arc<dyn Environment>> {
        let member = self.plane.as_ref().is_some_and(|mine| mine.name == plane);
        let this = self.this.upgrade().filter(|_| member)?;
        Some(Arc::new(PeerView(this)))
    }

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

    // Every node URI that reaches the registry is put in its one spelling first (see
    // `canonical_node_uri`): the agents are keyed, placed and started by it.

    fn serves(&self, node: &str) -> bool {
        self.agent_type(node).is_some()
    }

    fn resolve_running(&self, node: &str) -> Option<Mailbox> {
        self.agents()
            .get(&*canonical_node_uri(node))
            .filter(|agent| !agent.mailbox.is_closed())
            .map(|agent| agent.mailbox.clone())
    }

    fn resolve(&self, node: &str) -> Result<Mailbox, UnlinkReason> {
        let node = canonical_node_uri(node);
        match &self.plane {
            Some(plane) => self.resolve_member(plane, &node, true),
            None => self.start_here(&node),
        }
    }
}

impl Registry {
    /// The agent type of the route that serves `node`, and its name; `None` if no route does.
    pub(crate) fn agent_type(&self, node: &str) -> Option<(std::any::TypeId, &'static str)> {
        let node = canonical_node_uri(node);
        self.routes
            .iter()
            .find(|route| route.pattern.match_uri(&node).is_some())
            .map(|route| route.factory.agent_type())
    }

    /// The inbox of the agent of `node` on this server, started if needed.
    pub(crate) fn start_here(&self, node: &str) -> Result<Mailbox, UnlinkReason> {
        let mut agents = self.agents();
        if let Some(agent) = agents.get(node) {
            if !agent.mailbox.is_closed() {
                return Ok(agent.mailbox.clone());
            }
        }
        if self.stopping.load(Ordering::Acquire) {
            return Err(UnlinkReason::ServerStopping);
        }
        let Some((route, parameters)) = self
            .routes
            .iter()
            .find_map(|route| route.pattern.match_uri(node).map(|params| (route, params)))
        else {
            return Err(UnlinkReason::NodeNotFound);
        };
        let Some(this) = self.this.upgrade() else {
            return Err(UnlinkReason::ServerStopping);
        };
        let hosting = Hosting {
            environment: Some(this),
            store: self.store.clone(),
            meta: self.meta.clone(),
            // An instance that stopped may still be writing its last turn.
            after: agents.get(node).map(|stopped| stopped.finished.clone()),
        };
        let (mailbox, task) =
            route
                .factory
                .start(node.to_owned(), parameters, self.config.clone(), hosting);
        let finished = task
            .map(|ended| {
                if let Err(err) = ended {
                    tracing::error!(%err, "an agent task panicked");
                }
            })
            .boxed()
            .shared();
        agents.insert(
            node.to_owned(),
            Running {
                mailbox: mailbox.clone(),
                finished,
            },
        );
        Ok(mailbox)
    }
}
