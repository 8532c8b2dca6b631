//! ServiceAccounts (`pkg/restore/actions/service_account_action.go`): the account's list of
//! Secrets loses its legacy token Secret (`<name>-token-*`), which is not restored
//! (`secret.rs`); the rest of the list stays.

use serde_json::Value;

use super::types::{Context, Stop, str_at};

pub fn restore(object: &mut Value, _: &Context<'_>) -> Result<(), Stop> {
    let prefix = format!(
        "{}-token-",
        str_at(object, &["metadata", "name"]).unwrap_or_default()
    );
    if let Some(secrets) = object.get_mut("secrets").and_then(Value::as_array_mut) {
        secrets.retain(|s| {
            !s.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.starts_with(&prefix))
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::TestContext;
    use super::*;
    use serde_json::json;

    #[test]
    fn the_token_secret_leaves_the_list_and_others_stay() {
        let t = TestContext::new();
        let mut sa = json!({"kind": "ServiceAccount", "metadata": {"name": "web"},
            "secrets": [{"name": "web-token-x7k2p"}, {"name": "registry-pull"},
                        {"name": "other-token-abc"}],
            "imagePullSecrets": [{"name": "registry-pull"}]});
        restore(&mut sa, &t.ctx()).unwrap();
        assert_eq!(
            sa["secrets"],
            json!([{"name": "registry-pull"}, {"name": "other-token-abc"}])
        );
        assert_eq!(sa["imagePullSecrets"], json!([{"name": "registry-pull"}]));
    }
}
