//! Where an agent runs: node URI → shard by a fixed hash, shard → member by rendezvous hashing.
//!
//! Both functions are fixed here, not taken from `std` (whose `DefaultHasher` may change
//! between Rust releases), because servers built by different releases meet during a rolling
//! restart and must agree:
//!
//! - **shard of a node**: `fnv1a64(node URI as UTF-8 bytes) % shards`, with FNV-1a 64
//!   (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`);
//! - **score of a member for a shard**: `mix64(fnv1a64(member id) ^ mix64(shard))`, where
//!   `mix64` is SplitMix64's finaliser (`z ^= z >> 30; z *= 0xbf58476d1ce4e5b9; z ^= z >> 27;
//!   z *= 0x94d049bb133111eb; z ^= z >> 31`, wrapping); the owner is the live member with the
//!   highest score (ties, which need equal 64-bit scores, go to the smaller id).
//!
//! A member joining or leaving moves only the shards it wins or held: about `1/N` of them.
//! Placement only says which member *should* own a shard; owning it takes a lease (see
//! [`Leases`](super::Leases)).

/// The number of shards of a plane unless configured: fixed for the plane's life, about ten
/// times the largest expected number of servers, and a power of two.
pub const DEFAULT_SHARDS: u32 = 1024;

/// A shard: `0..shards`.
pub type ShardId = u32;

/// FNV-1a, 64 bits.
///
/// ```
/// use tidal_runtime::cluster::fnv1a64;
/// assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
/// assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
/// ```
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// SplitMix64's finaliser: spreads the bits of `z`.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The plane's division into shards, and who should own each.
///
/// ```
/// use tidal_runtime::cluster::Placement;
/// let placement = Placement::new(1024);
/// let shard = placement.shard_of("/unit/1");
/// let members = ["server-a", "server-b", "server-c"];
/// let owner = placement.owner(shard, &members).unwrap();
/// assert!(members.contains(owner));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    shards: u32,
}

impl Default for Placement {
    fn default() -> Self {
        Placement::new(DEFAULT_SHARDS)
    }
}

impl Placement {
    /// A plane of `shards` shards.
    ///
    /// # Panics
    /// If `shards` is 0 or above `i32::MAX` (lease tables keep shards in 32-bit columns).
    pub fn new(shards: u32) -> Self {
        assert!(shards > 0, "a plane has at least one shard");
        assert!(shards <= i32::MAX as u32, "at most i32::MAX shards");
        Placement { shards }
    }

    /// The number of shards.
    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// The shard of the agent at `node`.
    pub fn shard_of(&self, node: &str) -> ShardId {
        (fnv1a64(node.as_bytes()) % u64::from(self.shards)) as ShardId
    }

    /// How much `member` wants `shard`: the highest score wins.
    pub fn score(member: &str, shard: ShardId) -> u64 {
        mix64(fnv1a64(member.as_bytes()) ^ mix64(u64::from(shard)))
    }

    /// The member of `members` (their ids) that should own `shard`; `None` if there are none.
    pub fn owner<'a, M: AsRef<str>>(&self, shard: ShardId, members: &'a [M]) -> Option<&'a M> {
        members.iter().max_by(|a, b| {
            let (a, b) = (a.as_ref(), b.as_ref());
            Self::score(a, shard)
                .cmp(&Self::score(b, shard))
                .then_with(|| b.cmp(a))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fnv1a_64_as_published() {
        // The test vectors of the FNV reference (draft-eastlake-fnv).
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn shards_and_scores_are_fixed_forever() {
        // Pinned: a change here splits a plane whose servers run different builds.
        let placement = Placement::new(DEFAULT_SHARDS);
        let shards: Vec<ShardId> = ["/unit/1", "/unit/2", "/rooms/kitchen", ""]
            .iter()
            .map(|node| placement.shard_of(node))
            .collect();
        assert_eq!(shards, PINNED_SHARDS);
        assert_eq!(Placement::score("server-a", 7), PINNED_SCORE);
        assert_eq!(mix64(0), 0);
        assert_eq!(mix64(1), 0x5692161d100b05e5);
    }

    /// Computed by the formulas of the module docs, independently (in Python).
    const PINNED_SHARDS: [ShardId; 4] = [444, 725, 257, 805];
    const PINNED_SCORE: u64 = 0x2dff7f06123f9d58;

    #[test]
    fn every_member_gets_a_fair_part_and_a_join_moves_about_one_in_n() {
        let placement = Placement::default();
        let three = ["server-a", "server-b", "server-c"];
        let four = ["server-a", "server-b", "server-c", "server-d"];
        let mut counts = [0; 4];
        let mut moved = 0;
        for shard in 0..placement.shards() {
            let before = placement.owner(shard, &three).unwrap();
            let after = placement.owner(shard, &four).unwrap();
            counts[four.iter().position(|m| m == after).unwrap()] += 1;
            if before != after {
                // Only to the newcomer: nobody else's shards move.
                assert_eq!(*after, "server-d");
                moved += 1;
            }
        }
        // 1024 / 4 = 256 each, give or take the hash's unevenness.
        for count in counts {
            assert!((180..=330).contains(&count), "{counts:?}");
        }
        assert_eq!(moved, counts[3]);
        // The order of the members does not matter.
        let shuffled = ["server-c", "server-a", "server-d", "server-b"];
        for shard in 0..placement.shards() {
            assert_eq!(
                placement.owner(shard, &four).copied(),
                placement.owner(shard, &shuffled).copied()
            );
        }
        assert_eq!(placement.owner::<&str>(0, &[]), None);
    }
}
