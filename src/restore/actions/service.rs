//! Services (`pkg/restore/actions/service_action.go`): the cluster IPs were the old cluster's,
//! so they go (a headless Service keeps `None`); node ports go too, unless the restore sets
//! `preserveNodePorts`, since another Service may hold them here.

use serde_json::Value;

use super::types::{Context, Stop, map_at};

pub fn restore(object: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    let Some(spec) = map_at(object, &["spec"]) else {
        return Ok(());
    };
    if spec.get("clusterIP").and_then(Value::as_str) != Some("None") {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    }
    if !ctx.rules.preserve_node_ports {
        spec.remove("healthCheckNodePort");
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                port.remove("nodePort");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::TestContext;
    use super::*;
    use serde_json::json;

    #[test]
    fn services_lose_their_addresses_unless_headless_and_ports_unless_preserved() {
        let mut t = TestContext::new();
        let svc = json!({"kind": "Service", "metadata": {"name": "s", "namespace": "app"},
            "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"],
                     "healthCheckNodePort": 31000,
                     "ports": [{"port": 80, "nodePort": 30080}]}});
        let mut plain = svc.clone();
        restore(&mut plain, &t.ctx()).unwrap();
        assert_eq!(plain["spec"], json!({"ports": [{"port": 80}]}));
        let mut headless = json!({"spec": {"clusterIP": "None"}});
        restore(&mut headless, &t.ctx()).unwrap();
        assert_eq!(headless["spec"]["clusterIP"], "None");
        t.rules.preserve_node_ports = true;
        let mut kept = svc.clone();
        restore(&mut kept, &t.ctx()).unwrap();
        assert_eq!(
            kept["spec"],
            json!({"healthCheckNodePort": 31000, "ports": [{"port": 80, "nodePort": 30080}]})
        );
    }
}
