//! The evaluation plan: what compilation decided about the order of work on a value, read by
//! `eval` per request. It sits between `compile` (which builds it from the pattern groups) and
//! `eval` (which follows it); it knows nothing of requests and holds no per-request state.
//!
//! Owns the [`ChainTrie`]: the transformation chains of every pattern group merged over their
//! shared prefixes, so a value is put through each distinct prefix once per transaction and
//! each group reads the output of its chain's last node. With the value's byte-class signature
//! (`transform::classes`) a step whose trigger bytes are absent is skipped without a pass over
//! the value, and a step that leaves the value as it is yields the same output, so a value
//! has as many outputs as distinct byte strings its chains produce (CRS 4.28: ~2 per value for
//! ~19 chains), each scanned once per group database that wants it.
//! Also owns the gadget-free specialisation of the RCE evasion patterns ([`rce`]).
//! Refuses semantics: which rule selects what, multiMatch and captures stay in `eval` (rules
//! with `multiMatch` are not grouped: they need the operator after every changing step).

pub mod rce;

use crate::transform::Transformation;

/// Node id in a [`ChainTrie`]; 0 is the root (the value as it is).
pub type NodeId = u16;

/// The groups' transformation chains as a trie over their shared prefixes.
#[derive(Debug, Clone, Default)]
pub struct ChainTrie {
    /// By node id (root included, its step unused): the parent and the step from it.
    nodes: Vec<(NodeId, Transformation)>,
    /// By group: the nodes from the root's child to the chain's last node (empty: no step).
    paths: Vec<Vec<NodeId>>,
}

impl ChainTrie {
    /// The trie of `chains` (one per group, in group order).
    ///
    /// # Panics
    /// Never in practice: more than 65535 distinct chain prefixes would be needed.
    pub fn new<'a>(chains: impl IntoIterator<Item = &'a [Transformation]>) -> Self {
        let mut nodes: Vec<(NodeId, Transformation)> = vec![(0, Transformation::Length)];
        let mut paths = Vec::new();
        for chain in chains {
            let mut at: NodeId = 0;
            let mut path = Vec::with_capacity(chain.len());
            for &t in chain {
                at = match nodes.iter().position(|&(p, s)| p == at && s == t) {
                    Some(i) if i > 0 => i as NodeId,
                    _ => {
                        nodes.push((at, t));
                        NodeId::try_from(nodes.len() - 1).expect("fewer than 65536 chain prefixes")
                    }
                };
                path.push(at);
            }
            paths.push(path);
        }
        ChainTrie { nodes, paths }
    }

    /// Number of nodes, the root included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the trie has only its root.
    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    /// Group `g`'s chain as trie nodes, first step first (empty for an unknown group).
    pub fn path(&self, g: usize) -> &[NodeId] {
        self.paths.get(g).map_or(&[], Vec::as_slice)
    }

    /// The step that leads into node `n`.
    pub fn step(&self, n: NodeId) -> Transformation {
        self.nodes
            .get(usize::from(n))
            .map_or(Transformation::Length, |&(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Transformation::*;

    #[test]
    fn chains_share_prefixes_and_walk_in_order() {
        let a = [UrlDecodeUni, HtmlEntityDecode, Lowercase];
        let b = [UrlDecodeUni, Lowercase];
        let c = [UrlDecodeUni, HtmlEntityDecode];
        let t = ChainTrie::new([&a[..], &b[..], &[][..], &c[..]]);
        // root, urlDecodeUni, +htmlEntityDecode, +lowercase, lowercase after urlDecodeUni.
        assert_eq!(t.len(), 5);
        assert_eq!(t.path(2), &[] as &[NodeId]);
        assert_eq!(t.path(3), &t.path(0)[..2]);
        assert_eq!(t.path(1)[0], t.path(0)[0]);
        for (g, chain) in [&a[..], &b[..], &[][..], &c[..]].iter().enumerate() {
            let steps: Vec<_> = t.path(g).iter().map(|&n| t.step(n)).collect();
            assert_eq!(&steps[..], *chain);
        }
        assert!(t.path(9).is_empty());
    }
}
