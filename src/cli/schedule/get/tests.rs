use super::*;
use serde_json::json;

#[test]
fn the_table_shows_the_next_run() {
    let s: Schedule = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Schedule",
        "metadata": {"name": "nightly", "namespace": "velero",
                     "creationTimestamp": "2026-11-01T00:00:00Z"},
        "spec": {"schedule": "0 3 * * *", "template": {"ttl": "720h0m0s",
                 "labelSelector": {"matchLabels": {"app": "web"}}}},
        "status": {"phase": "Enabled", "lastBackup": "2026-12-01T03:00:00Z",
                   "nextRun": "2026-12-02T03:00:00Z"},
    }))
    .unwrap();
    let now: Timestamp = "2026-12-01T05:00:00Z".parse().unwrap();
    let text = table(std::slice::from_ref(&s), now);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("NAME      STATUS    CREATED"),
        "{text}"
    );
    assert!(lines[0].contains("LAST BACKUP   NEXT RUN"), "{text}");
    for cell in [
        "nightly",
        "Enabled",
        "0 3 * * *",
        "720h0m0s",
        "2h ago",
        "2026-12-02 03:00:00 UTC (in 22h)",
        "app=web",
        "false",
    ] {
        assert!(lines[1].contains(cell), "{cell:?} missing: {text}");
    }
    let described = describe_one(&s, now);
    assert!(
        described.contains("Next Run:  2026-12-02 03:00:00 UTC (in 22h)"),
        "{described}"
    );
    assert!(described.contains("Retention:  <none>"), "{described}");
}
