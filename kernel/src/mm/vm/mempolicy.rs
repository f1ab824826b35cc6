//! The NUMA memory policy a thread or an area carries (set_mempolicy(2),
//! mbind(2)). Kestrel's machine is one node, node 0, with all memory and every
//! CPU on it, so a policy never changes where a page comes from; it is kept so
//! that get_mempolicy(2) reports what was set, as Linux does on a one-node
//! machine. The system calls are in `syscall::mempolicy`.

/// A policy other than MPOL_DEFAULT (which is "none": `Option<MemPolicy>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemPolicy {
    /// MPOL_PREFERRED, MPOL_BIND, MPOL_INTERLEAVE, MPOL_LOCAL,
    /// MPOL_PREFERRED_MANY or MPOL_WEIGHTED_INTERLEAVE.
    pub mode: u16,
    /// MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES, MPOL_F_NUMA_BALANCING.
    pub flags: u16,
    /// set_mempolicy_home_node(2)'s node (MPOL_BIND and MPOL_PREFERRED_MANY).
    pub home_node: Option<u16>,
    /// The nodes get_mempolicy(2) reports: the caller's own mask when the
    /// policy was set with MPOL_F_STATIC_NODES or MPOL_F_RELATIVE_NODES (Linux's
    /// `w.user_nodemask`), else the nodes it resolved to.
    pub nodes: u64,
}
