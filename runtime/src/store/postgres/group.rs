//! A group of turns in one transaction: each turn fenced by its lease, the clears, removals
//! and writes of all of them as one statement each over arrays.

use std::collections::{BTreeMap, HashSet};

use tokio_postgres::types::ToSql;

use super::{BoxError, Change, Connection, FenceToken, Open, StoreError, Turn, Work, ENTRY, VALUE};

/// Applies a group of turns in one transaction, each fenced by its token.
pub(super) struct Commit<'a>(&'a [(&'a Turn<'a>, Option<FenceToken>)]);

/// Commits `turns` in one transaction, each fenced by the lease the server holds for its
/// node (if the store is fenced): one result per turn.
pub(super) async fn commit_turns(
    connection: &mut Connection,
    turns: &[Turn<'_>],
) -> Vec<Result<(), StoreError>> {
    // The lease of each turn: `None` for a turn of a fenced store whose server holds none
    // (refused without being sent).
    let leases: Vec<Option<Option<FenceToken>>> = turns
        .iter()
        .map(|turn| match &connection.fence {
            Some(fence) => fence.token(turn.node).map(Some),
            None => Some(None),
        })
        .collect();
    let group: Vec<(&Turn<'_>, Option<FenceToken>)> = turns
        .iter()
        .zip(&leases)
        .filter_map(|(turn, lease)| Some((turn, lease.clone()?)))
        .collect();
    // For each turn sent, in order: why it was refused, if it was; or why the group failed.
    let mut outcomes = match connection.run(&Commit(&group)).await {
        Ok(refused) => refused
            .into_iter()
            .map(|fenced| fenced.map(|fenced| Box::new(fenced) as BoxError))
            .collect(),
        Err(failed) => {
            let why = failed.to_string();
            group
                .iter()
                .map(|_| Some(why.clone().into()))
                .collect::<Vec<_>>()
        }
    }
    .into_iter();
    turns
        .iter()
        .zip(leases)
        .map(|(turn, lease)| {
            let failure = match lease {
                None => Some(format!("this server holds no lease for {}", turn.node).into()),
                Some(_) => outcomes.next().flatten(),
            };
            match failure {
                None => Ok(()),
                Some(source) => Err(StoreError::Write {
                    node: turn.node.to_owned(),
                    source,
                }),
            }
        })
        .collect()
}

impl Work for Commit<'_> {
    /// For each turn, why it was refused, if it was.
    type Output = Vec<Option<Fenced>>;

    async fn once(&self, open: &mut Open) -> Result<Vec<Option<Fenced>>, tokio_postgres::Error> {
        commit(open, self.0).await
    }
}

/// A fenced turn refused: the lease it was made under is no longer current.
#[derive(Debug, thiserror::Error)]
#[error("fenced: the lease of shard {shard} at epoch {epoch} held by {owner} is no longer current (another server took the shard over)")]
pub(crate) struct Fenced {
    shard: u32,
    epoch: i64,
    owner: String,
}

/// What a group does to one item: whether its entries were cleared first, and the last
/// operation on each key (a value item's value under the empty key).
#[derive(Default)]
struct ItemOps<'a> {
    cleared: bool,
    value: Option<&'a [u8]>,
    entries: BTreeMap<&'a [u8], Option<&'a [u8]>>,
}

/// The statements' arrays for a group's accepted turns.
#[derive(Default)]
struct Arrays<'a> {
    /// The map items cleared.
    clear: Rows<'a>,
    /// The entries removed.
    remove: Rows<'a>,
    /// The values and entries written.
    upsert: Rows<'a>,
}

/// Rows of `tidal_state` (or their leading columns), as one array per column.
#[derive(Default)]
struct Rows<'a> {
    nodes: Vec<&'a str>,
    items: Vec<&'a str>,
    kinds: Vec<i16>,
    keys: Vec<&'a [u8]>,
    values: Vec<&'a [u8]>,
}

impl<'a> Rows<'a> {
    fn push(&mut self, node: &'a str, item: &'a str) -> &mut Self {
        self.nodes.push(node);
        self.items.push(item);
        self
    }

    fn key(&mut self, key: &'a [u8]) -> &mut Self {
        self.keys.push(key);
        self
    }

    fn value(&mut self, kind: i16, value: &'a [u8]) {
        self.kinds.push(kind);
        self.values.push(value);
    }
}

impl<'a> Arrays<'a> {
    /// The arrays of the turns of `group` not refused, each item's operations folded (later
    /// turns and changes win).
    fn of(group: &'a [(&'a Turn<'a>, Option<FenceToken>)], refused: &[Option<Fenced>]) -> Self {
        let mut items: BTreeMap<(&str, &str), ItemOps<'_>> = BTreeMap::new();
        for ((turn, _), refused) in group.iter().zip(refused) {
            if refused.is_some() {
                continue;
            }
            for (item, change) in turn.changes {
                let ops = items.entry((turn.node, item)).or_default();
                match change {
                    Change::Value(value) => ops.value = Some(value),
                    Change::Put { key, value } => {
                        ops.entries.insert(key, Some(value));
                    }
                    Change::Remove { key } => {
                        ops.entries.insert(key, None);
                    }
                    Change::Clear => {
                        ops.cleared = true;
                        ops.entries.clear();
                    }
                }
            }
        }
        let mut arrays = Arrays::default();
        let no_key: &[u8] = &[];
        for ((node, item), ops) in items {
            if ops.cleared {
                arrays.clear.push(node, item);
            }
            if let Some(value) = ops.value {
                arrays
                    .upsert
                    .push(node, item)
                    .key(no_key)
                    .value(VALUE, value);
            }
            for (key, op) in ops.entries {
                match op {
                    Some(value) => arrays.upsert.push(node, item).key(key).value(ENTRY, value),
                    None => {
                        arrays.remove.push(node, item).key(key);
                    }
                }
            }
        }
        arrays
    }
}

/// The group's transaction: the fence check (one statement for every lease), then the clears,
/// removals and writes of the turns not refused (a statement each, sent without waiting for
/// one another: PostgreSQL runs them in order), then the commit.
async fn commit(
    open: &mut Open,
    group: &[(&Turn<'_>, Option<FenceToken>)],
) -> Result<Vec<Option<Fenced>>, tokio_postgres::Error> {
    let Open {
        client,
        fence,
        clear,
        remove,
        upsert,
        ..
    } = open;
    let transaction = client.transaction().await?;
    let mut refused: Vec<Option<Fenced>> = group.iter().map(|_| None).collect();
    if let Some(fence) = fence.as_ref() {
        // A shard the column cannot hold has no lease row: fenced like any other.
        let tokens: Vec<(i32, &str, i64)> = group
            .iter()
            .filter_map(|(_, token)| token.as_ref())
            .filter_map(|token| {
                let shard = i32::try_from(token.shard).ok()?;
                Some((shard, token.owner.as_str(), token.epoch))
            })
            .collect();
        let shards: Vec<i32> = tokens.iter().map(|token| token.0).collect();
        let owners: Vec<&str> = tokens.iter().map(|token| token.1).collect();
        let epochs: Vec<i64> = tokens.iter().map(|token| token.2).collect();
        let rows = transaction
            .query(fence, &[&shards, &owners, &epochs])
            .await?;
        let mut current: HashSet<(i32, String, i64)> = HashSet::with_capacity(rows.len());
        for row in rows {
            current.insert((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?));
        }
        for ((_, token), refused) in group.iter().zip(&mut refused) {
            let Some(token) = token else { continue };
            let held = i32::try_from(token.shard)
                .is_ok_and(|shard| current.contains(&(shard, token.owner.clone(), token.epoch)));
            if !held {
                *refused = Some(Fenced {
                    shard: token.shard,
                    epoch: token.epoch,
                    owner: token.owner.clone(),
                });
            }
        }
    }
    let arrays = Arrays::of(group, &refused);
    let Arrays {
        clear: cleared,
        remove: removed,
        upsert: written,
    } = &arrays;
    let clearing = async {
        if cleared.nodes.is_empty() {
            return Ok(0);
        }
        let params: [&(dyn ToSql + Sync); 2] = [&cleared.nodes, &cleared.items];
        transaction.execute(&*clear, &params).await
    };
    let removing = async {
        if removed.nodes.is_empty() {
            return Ok(0);
        }
        let params: [&(dyn ToSql + Sync); 3] = [&removed.nodes, &removed.items, &removed.keys];
        transaction.execute(&*remove, &params).await
    };
    let writing = async {
        if written.nodes.is_empty() {
            return Ok(0);
        }
        let params: [&(dyn ToSql + Sync); 5] = [
            &written.nodes,
            &written.items,
            &written.kinds,
            &written.keys,
            &written.values,
        ];
        transaction.execute(&*upsert, &params).await
    };
    futures::future::try_join3(clearing, removing, writing).await?;
    transaction.commit().await?;
    Ok(refused)
}
