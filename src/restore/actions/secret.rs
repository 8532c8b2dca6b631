//! Secrets (`pkg/restore/actions/secret_action.go`): a service-account token Secret
//! (`kubernetes.io/service-account-token`) is not restored. Its token was signed for an
//! account of the cluster it came from; restored, the Secret would either carry a token this
//! cluster's keys accept (the same cluster, the account's uid unchanged) or make the token
//! controller mint a new one for whatever account the archive names. The cluster makes the
//! tokens its accounts need. (Velero skips the Secrets the token controller made and restores
//! the others with the token removed; veloxide skips both: see docs/velero-compatibility.md.)

use serde_json::Value;

use super::types::{Context, Stop, str_at};

pub const TOKEN_TYPE: &str = "kubernetes.io/service-account-token";

pub fn restore(object: &mut Value, _: &Context<'_>) -> Result<(), Stop> {
    if str_at(object, &["type"]) == Some(TOKEN_TYPE) {
        return Err(Stop::skip(
            "a service-account token is not restored: the cluster makes the tokens of its own \
             accounts",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::TestContext;
    use super::*;
    use serde_json::json;

    #[test]
    fn token_secrets_are_skipped_and_others_kept() {
        let t = TestContext::new();
        for (kind, skipped) in [
            (TOKEN_TYPE, true),
            ("Opaque", false),
            ("kubernetes.io/tls", false),
            ("kubernetes.io/dockerconfigjson", false),
        ] {
            let mut s = json!({"kind": "Secret", "type": kind,
                "metadata": {"name": "s", "annotations": {"kubernetes.io/service-account.name": "web"}},
                "data": {"token": "ZXlK"}});
            let got = restore(&mut s, &t.ctx());
            assert_eq!(matches!(got, Err(Stop::Skip { .. })), skipped, "{kind}");
        }
        let mut untyped = json!({"kind": "Secret", "metadata": {"name": "s"}});
        assert!(restore(&mut untyped, &t.ctx()).is_ok());
    }
}
