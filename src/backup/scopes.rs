//! Whether a backup that names its namespaces lists each resource once across the cluster
//! (and filters) or once in each namespace. One list per namespace sends fewer objects over
//! the wire, but costs a request per namespace for every resource type, most of them empty:
//! at 35,000 namespaced lists (Velero issue #9869) the requests are the backup's time.

/// List across the cluster when the backup names at least two namespaces and they are at
/// least half the cluster's: then at most about as many objects again cross the wire as the
/// backup keeps (the other namespaces' share), for one request per page instead of one per
/// namespace per type. A backup of a few namespaces in a large cluster keeps its
/// per-namespace lists.
pub fn cluster_wide(named: usize, cluster_namespaces: usize) -> bool {
    named >= 2 && named * 2 >= cluster_namespaces
}

/// `scopes` (from `Plan::namespace_scopes`, after `Source::scopes_for`) as the lists to make:
/// the namespaces named become one cluster-wide list (`None`) when `wide`; the items are then
/// filtered by namespace as they are taken.
pub fn widen(scopes: Vec<Option<String>>, wide: bool) -> Vec<Option<String>> {
    if wide && scopes.len() >= 2 && scopes.iter().all(Option::is_some) {
        vec![None]
    } else {
        scopes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_of_the_clusters_namespaces_are_listed_once_across_it() {
        // named, in the cluster, cluster-wide?
        let cases = [
            (10, 15, true),  // the benchmark: 10 of 15
            (10, 20, true),  // exactly half
            (10, 21, false), // under half: one list per namespace
            (5, 1000, false),
            (1, 1, false), // one namespace: its own list is the smallest
            (0, 10, false),
            (2, 3, true),
        ];
        for (named, cluster, wide) in cases {
            assert_eq!(
                cluster_wide(named, cluster),
                wide,
                "{named} of {cluster} namespaces"
            );
        }
    }

    #[test]
    fn only_several_named_namespaces_become_one_list() {
        let some = |names: &[&str]| -> Vec<Option<String>> {
            names.iter().map(|n| Some((*n).to_owned())).collect()
        };
        assert_eq!(widen(some(&["a", "b"]), true), vec![None]);
        assert_eq!(widen(some(&["a", "b"]), false), some(&["a", "b"]));
        // Secrets only in the server's namespace stay there.
        assert_eq!(widen(some(&["velero"]), true), some(&["velero"]));
        assert_eq!(widen(vec![None], true), vec![None]);
        assert_eq!(widen(vec![], true), Vec::<Option<String>>::new());
    }
}
