//! The key layout: one prefix per agent, then the item, then the entry key, each length-prefixed
//! so that one prefix scan reads a whole agent, another a single map item, and no node or item
//! name can be mistaken for the start of another.
//!
//! ```text
//! [len u32 BE][node] [len u16 BE][item] 0x00          a value item's value
//! [len u32 BE][node] [len u16 BE][item] 0x01 [key]    one entry of a map item
//! ```

/// The marker of a value item's key.
const VALUE: u8 = 0;
/// The marker of a map entry's key.
const ENTRY: u8 = 1;

/// The prefix of every key of `node`.
pub(super) fn agent(node: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(4 + node.len());
    key.extend_from_slice(&(node.len() as u32).to_be_bytes());
    key.extend_from_slice(node.as_bytes());
    key
}

fn item(node: &str, item: &str, marker: u8) -> Vec<u8> {
    let mut key = agent(node);
    key.extend_from_slice(&(item.len() as u16).to_be_bytes());
    key.extend_from_slice(item.as_bytes());
    key.push(marker);
    key
}

/// The key of a value item.
pub(super) fn value(node: &str, name: &str) -> Vec<u8> {
    item(node, name, VALUE)
}

/// The prefix of every entry of a map item.
pub(super) fn entries(node: &str, name: &str) -> Vec<u8> {
    item(node, name, ENTRY)
}

/// The key of one map entry.
pub(super) fn entry(node: &str, name: &str, key: &[u8]) -> Vec<u8> {
    let mut full = entries(node, name);
    full.extend_from_slice(key);
    full
}

/// Reads a key of the agent whose prefix is `prefix`: the item name, and the entry key for a
/// map entry (`None` for a value). `None` for a key of another layout.
pub(super) fn split<'a>(prefix: &[u8], key: &'a [u8]) -> Option<(&'a str, Option<&'a [u8]>)> {
    let rest = key.strip_prefix(prefix)?;
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    let name = std::str::from_utf8(rest.get(..len)?).ok()?;
    match rest.get(len..)? {
        [VALUE] => Some((name, None)),
        [ENTRY, key @ ..] => Some((name, Some(key))),
        _ => None,
    }
}

/// Folds the pairs of one agent's prefix scan into its state.
pub(super) fn collect(
    prefix: &[u8],
    pairs: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
) -> super::AgentState {
    let mut state = super::AgentState::new();
    for (key, value) in pairs {
        if let Some((name, entry)) = split(prefix, &key) {
            let item = state.entry(name.to_owned()).or_default();
            match entry {
                None => item.value = Some(value),
                Some(entry) => item.entries.push((entry.to_vec(), value)),
            }
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_back_and_agents_do_not_overlap() {
        let prefix = agent("/a");
        assert_eq!(split(&prefix, &value("/a", "lane")), Some(("lane", None)));
        assert_eq!(
            split(&prefix, &entry("/a", "map", b"k")),
            Some(("map", Some(&b"k"[..])))
        );
        // `/a` is a prefix of `/ab` as text, not as a key prefix.
        assert!(!value("/ab", "lane").starts_with(&prefix));
        assert!(!entries("/a", "m").starts_with(&entries("/a", "ma")));
    }
}
