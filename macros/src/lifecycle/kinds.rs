//! The handler attributes and the signatures they require.

/// One kind of handler attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Init,
    Start,
    Stop,
    Timer,
    Event,
    Set,
    Command,
    Update,
    Remove,
    Clear,
    Cue,
    Keys,
    CueKey,
    JoinValue,
    JoinMap,
    Get,
    Post,
    Put,
    Delete,
}

/// Which kind of lane a lane handler is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Category {
    Value,
    Map,
    Command,
    Demand,
    DemandMap,
    Http,
}

impl Category {
    /// The lanes and stores the handlers are for, and the handler attributes.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Category::Value => "value lanes and stores take `#[on_event]`/`#[on_set]`",
            Category::Map => {
                "map lanes and stores take `#[on_update]`/`#[on_remove]`/`#[on_clear]`"
            }
            Category::Command => "command lanes take `#[on_command]`",
            Category::Demand => "demand lanes take `#[on_cue]`",
            Category::DemandMap => "demand-map lanes take `#[keys]` and `#[on_cue_key]`",
            Category::Http => "HTTP lanes take `#[on_get]`/`#[on_post]`/`#[on_put]`/`#[on_delete]`",
        }
    }

    /// The kind of lane, as in "a value-lane handler".
    pub(crate) fn lane_kind(self) -> &'static str {
        match self {
            Category::Value => "value-lane",
            Category::Map => "map-lane",
            Category::Command => "command-lane",
            Category::Demand => "demand-lane",
            Category::DemandMap => "demand-map-lane",
            Category::Http => "HTTP-lane",
        }
    }
}

pub(crate) const ALL: [Kind; 19] = [
    Kind::Init,
    Kind::Start,
    Kind::Stop,
    Kind::Timer,
    Kind::Event,
    Kind::Set,
    Kind::Command,
    Kind::Update,
    Kind::Remove,
    Kind::Clear,
    Kind::Cue,
    Kind::Keys,
    Kind::CueKey,
    Kind::JoinValue,
    Kind::JoinMap,
    Kind::Get,
    Kind::Post,
    Kind::Put,
    Kind::Delete,
];

impl Kind {
    pub(crate) fn parse(name: &str) -> Option<Kind> {
        ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Init => "on_init",
            Kind::Start => "on_start",
            Kind::Stop => "on_stop",
            Kind::Timer => "on_timer",
            Kind::Event => "on_event",
            Kind::Set => "on_set",
            Kind::Command => "on_command",
            Kind::Update => "on_update",
            Kind::Remove => "on_remove",
            Kind::Clear => "on_clear",
            Kind::Cue => "on_cue",
            Kind::Keys => "keys",
            Kind::CueKey => "on_cue_key",
            Kind::JoinValue => "join_value_lifecycle",
            Kind::JoinMap => "join_map_lifecycle",
            Kind::Get => "on_get",
            Kind::Post => "on_post",
            Kind::Put => "on_put",
            Kind::Delete => "on_delete",
        }
    }

    /// The lane category, for handlers of lane events.
    pub(crate) fn category(self) -> Option<Category> {
        match self {
            Kind::Event | Kind::Set => Some(Category::Value),
            Kind::Update | Kind::Remove | Kind::Clear => Some(Category::Map),
            Kind::Command => Some(Category::Command),
            Kind::Cue => Some(Category::Demand),
            Kind::Keys | Kind::CueKey => Some(Category::DemandMap),
            Kind::Get | Kind::Post | Kind::Put | Kind::Delete => Some(Category::Http),
            Kind::Init
            | Kind::Start
            | Kind::Stop
            | Kind::Timer
            | Kind::JoinValue
            | Kind::JoinMap => None,
        }
    }

    /// Whether the attribute names lanes: lane event handlers, and the lifecycles of join
    /// lanes' links.
    pub(crate) fn takes_lanes(self) -> bool {
        self.category().is_some() || self.is_join()
    }

    /// The parameters after `&self` and the context.
    pub(crate) fn params(self) -> &'static [Param] {
        use Param::*;
        match self {
            Kind::Init
            | Kind::Start
            | Kind::Stop
            | Kind::Cue
            | Kind::Keys
            | Kind::JoinValue
            | Kind::JoinMap => &[],
            Kind::CueKey => &[Owned("key: K")],
            Kind::Get | Kind::Delete => &[Owned("request: HttpRequestContext")],
            Kind::Post => &[Owned("request: HttpRequestContext"), Owned("value: Post")],
            Kind::Put => &[Owned("request: HttpRequestContext"), Owned("value: Put")],
            Kind::Timer => &[Owned("id: u64")],
            Kind::Event | Kind::Command => &[Ref("value: &T")],
            Kind::Set => &[Ref("new_value: &T"), Owned("previous: Option<T>")],
            Kind::Update => &[
                Ref("map: &HashMap<K, V>"),
                Owned("key: K"),
                Owned("previous: Option<V>"),
                Ref("new_value: &V"),
            ],
            Kind::Remove => &[
                Ref("map: &HashMap<K, V>"),
                Owned("key: K"),
                Owned("removed: V"),
            ],
            Kind::Clear => &[Owned("before: HashMap<K, V>")],
        }
    }

    /// The whole signature, for error messages.
    pub(crate) fn signature(self, method: &str, agent: &str) -> String {
        let mut params = vec!["&self".to_owned(), self.context(agent)];
        params.extend(self.params().iter().map(|p| p.text().to_owned()));
        format!(
            "fn {method}({}) -> {}",
            params.join(", "),
            self.returns(agent)
        )
    }

    /// The context parameter, for error messages.
    pub(crate) fn context(self, agent: &str) -> String {
        match self {
            Kind::JoinValue => format!("context: JoinValueContext<{agent}, K, V>"),
            Kind::JoinMap => format!("context: JoinMapContext<{agent}, L, K, V>"),
            _ => format!("context: HandlerContext<{agent}>"),
        }
    }

    /// Whether this is the lifecycle of a join lane's links.
    pub(crate) fn is_join(self) -> bool {
        matches!(self, Kind::JoinValue | Kind::JoinMap)
    }

    /// What the handler returns, for error messages.
    pub(crate) fn returns(self, agent: &str) -> String {
        match self {
            Kind::Cue => format!("impl HandlerAction<{agent}, Completion = T> + '_"),
            Kind::Keys => format!("impl HandlerAction<{agent}, Completion = HashSet<K>> + '_"),
            Kind::CueKey => format!("impl HandlerAction<{agent}, Completion = Option<V>> + '_"),
            Kind::JoinValue => format!("impl JoinValueLaneLifecycle<K, V, {agent}>"),
            Kind::JoinMap => format!("impl JoinMapLaneLifecycle<L, K, V, {agent}>"),
            Kind::Get => format!("impl HandlerAction<{agent}, Completion = Response<Get>> + '_"),
            Kind::Post | Kind::Put | Kind::Delete => {
                format!("impl HandlerAction<{agent}, Completion = UnitResponse> + '_")
            }
            _ => format!("impl EventHandler<{agent}> + '_"),
        }
    }

    /// Whether the handler returns an event handler (rather than a handler that computes a
    /// value for its lane).
    pub(crate) fn returns_event_handler(self) -> bool {
        !matches!(self, Kind::Cue | Kind::Keys | Kind::CueKey)
            && !self.is_join()
            && self.category() != Some(Category::Http)
    }
}

/// A parameter of a handler, as the error messages show it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param {
    /// Must be a reference.
    Ref(&'static str),
    /// Taken by value.
    Owned(&'static str),
}

impl Param {
    pub(crate) fn text(self) -> &'static str {
        match self {
            Param::Ref(text) | Param::Owned(text) => text,
        }
    }
}

/// All attribute names, for the "unknown attribute" message.
pub(crate) fn all_names() -> String {
    ALL.iter()
        .map(|kind| format!("`{}`", kind.name()))
        .collect::<Vec<_>>()
        .join(", ")
}
