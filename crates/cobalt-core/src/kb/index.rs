//! Lookups the evaluator makes on every case, prepared once when the knowledge base is loaded:
//! rules by id, the finding groups a concept belongs to (a bit per group), and the rule
//! parameters the evaluator reads (by position in [`crate::eval::BUILTIN_PARAMS`]).
//!
//! The maps hash with a small multiplicative hasher: their keys are the knowledge base's own
//! (rule ids, concept ids), fixed at load, so a lookup with any input costs a hash and a short
//! probe, and nothing an input holds can grow them.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A multiplicative hasher for short keys (rule ids packed into a `u128`, concept ids).
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let word = c.try_into().map_or(0, u64::from_le_bytes);
            h = (h.rotate_left(5) ^ word).wrapping_mul(K);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // Byte by byte: a copy of a short, variable-length tail would call memcpy.
            let word = rest
                .iter()
                .enumerate()
                .fold(0u64, |w, (i, b)| w | (u64::from(*b) << (8 * i)));
            h = (h.rotate_left(5) ^ word).wrapping_mul(K);
        }
        self.0 = h;
    }

    fn write_u8(&mut self, i: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(i)).wrapping_mul(K);
    }

    fn write_u128(&mut self, i: u128) {
        let folded = (i as u64) ^ ((i >> 64) as u64).rotate_left(29);
        self.0 = (self.0.rotate_left(5) ^ folded).wrapping_mul(K);
    }
}

/// A hash map with [`KeyHasher`].
pub type KeyMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// The prepared lookups.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// The finding groups, each with its bit: a short list, searched by length and bytes
    /// (cheaper than hashing for a handful of ids).
    pub group_bits: Vec<(String, u32)>,
    /// For each concept in a finding group, the bits of its groups.
    pub concept_groups: KeyMap<String, u32>,
    /// The values of [`crate::eval::BUILTIN_PARAMS`], in its order (NaN where missing, which
    /// the linter reports).
    pub params: Vec<f64>,
    /// The medicine names (`KnowledgeBase::medicine_names`, normalised, in their order) as one
    /// automaton, so that a text is read once however many names there are.
    pub medicine_names: Option<aho_corasick::AhoCorasick>,
}

impl Index {
    /// Builds the lookups from a loaded knowledge base.
    pub(super) fn build(kb: &super::KnowledgeBase) -> Index {
        let mut group_bits = Vec::new();
        let mut concept_groups: KeyMap<String, u32> = KeyMap::default();
        // At most 32 groups get a bit; the linter keeps the list far shorter.
        for (i, (id, g)) in kb.finding_groups.iter().enumerate().take(32) {
            let bit = 1u32 << i;
            group_bits.push((id.clone(), bit));
            for c in &g.concepts {
                *concept_groups.entry(c.clone()).or_default() |= bit;
            }
        }
        let params = crate::eval::BUILTIN_PARAMS
            .iter()
            .map(|(rule, name)| {
                kb.rule(rule)
                    .and_then(|r| r.params.get(*name))
                    .copied()
                    .unwrap_or(f64::NAN)
            })
            .collect();
        // Standard semantics: every occurrence of every name can be reported (overlapping),
        // so that the rule of `medicine_by_name` (a B12 product first, then the earliest) holds.
        let medicine_names = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::Standard)
            .build(kb.medicine_names.iter().map(|n| n.name.as_str()))
            .ok();
        Index {
            group_bits,
            concept_groups,
            params,
            medicine_names,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, BuildHasherDefault};

    #[test]
    fn equal_keys_hash_equal_and_different_keys_mostly_differ() {
        let b = BuildHasherDefault::<KeyHasher>::default();
        assert_eq!(
            b.hash_one("metformin"),
            b.hash_one(String::from("metformin"))
        );
        let keys = [
            "paraesthesia",
            "numbness",
            "muscle_weakness",
            "optic_neuritis",
            "diplopia",
            "PIC-001",
            "PIC-002",
            "PIC-010",
            "a",
            "ab",
            "abcdefgh",
            "abcdefghi",
        ];
        let mut hashes: Vec<u64> = keys.iter().map(|k| b.hash_one(k)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), keys.len());
    }
}
