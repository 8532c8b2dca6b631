//! Leases (beyond Velero): a Lease in the server's own namespace is refused. The restore runs
//! as the server, whose Role may write Leases there for its leader election; restored, a
//! planted `veloxide` Lease would hand the controllers' leadership to a holder that never
//! runs them, and stop every backup. Leases elsewhere are restored when the chart's
//! `rbac.restore.resources` names them (it does not by default).

use serde_json::Value;

use super::types::{Context, Stop, str_at};

pub fn restore(object: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    match str_at(object, &["metadata", "namespace"]) {
        Some(ns) if ns == ctx.server_namespace => Err(Stop::Refuse(format!(
            "refused: a Lease in {ns}, the server's own namespace, where its leader election \
             runs; nothing was created"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::TestContext;
    use super::*;
    use serde_json::json;

    #[test]
    fn leases_in_the_servers_namespace_are_refused() {
        let t = TestContext::new();
        for (ns, refused) in [
            ("velero", true),
            ("app-copy", false),
            ("kube-system", false),
        ] {
            let mut lease = json!({"kind": "Lease", "metadata": {"name": "l", "namespace": ns}});
            let got = restore(&mut lease, &t.ctx());
            assert_eq!(
                matches!(got, Err(Stop::Refuse(_))),
                refused,
                "{ns}: {got:?}"
            );
        }
    }
}
