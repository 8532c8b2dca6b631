//! Schedules end to end: `veloxide server` replicas against a real control plane and moto over
//! HTTPS. Each tick makes exactly one Backup, named after the tick and labelled, and Completed;
//! a leader killed mid-run loses and doubles nothing; pause and unpause; a bad cron refused at
//! `kubectl apply`; a CRON_TZ schedule's next run; `backup create --from-schedule`.

use crate::backup_support;
use crate::common;
use crate::server_support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use backup_support::{backups, create, eventually, wait_phase};
use common::webhook_proc::WebhookProcess;
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::{Value, json};
use server_support::{NS, Server, World, sample};
use veloxide::api::{Backup, BackupPhase, Schedule, SchedulePhase};

/// The lease duration the servers run with (server_support).
const LEASE: Duration = Duration::from_secs(3);

/// The control plane the tests run against (a real one, `e2e::cluster::Cluster`, per World).
async fn world() -> World {
    World::start().await
}

fn schedules(world: &World) -> Api<Schedule> {
    Api::namespaced(world.client.clone(), NS)
}

async fn create_schedule(world: &World, name: &str, spec: Value) {
    let schedule: Schedule = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Schedule",
        "metadata": {"name": name, "namespace": NS, "labels": {"owner": "e2e"}},
        "spec": spec,
    }))
    .unwrap();
    schedules(world)
        .create(&PostParams::default(), &schedule)
        .await
        .unwrap();
}

/// The schedule's backups, by name (which sorts by tick).
async fn backups_of(world: &World, schedule: &str) -> Vec<Backup> {
    let mut list = backups(world)
        .list(
            &kube::api::ListParams::default()
                .labels(&format!("velero.io/schedule-name={schedule}")),
        )
        .await
        .unwrap()
        .items;
    list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    list
}

/// The tick a backup's name stands for.
fn tick_of(schedule: &str, backup: &Backup) -> Timestamp {
    let name = backup.metadata.name.as_deref().unwrap();
    let stamp = name
        .strip_prefix(&format!("{schedule}-"))
        .unwrap_or_else(|| panic!("{name} is not {schedule}-<timestamp>"));
    assert_eq!(stamp.len(), 14, "{name}");
    jiff::civil::DateTime::strptime("%Y%m%d%H%M%S", stamp)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
}

async fn holder(world: &World) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(world.client.clone(), NS);
    leases
        .get_opt("veloxide-controller")
        .await
        .unwrap()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

/// Wait until `count` backups of `schedule` have reached a terminal phase.
async fn wait_finished(
    world: &World,
    schedule: &str,
    count: usize,
    timeout: Duration,
) -> Vec<Backup> {
    let deadline = Instant::now() + timeout;
    loop {
        let list = backups_of(world, schedule).await;
        if list.iter().filter(|b| b.phase().is_terminal()).count() >= count {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "{count} backups of {schedule} did not finish within {timeout:?}: {:?}",
            list.iter()
                .map(|b| (b.metadata.name.clone(), b.phase()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn workload(world: &World) {
    create(
        world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
    )
    .await;
    create(
        world,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "app"}, "data": {"k": "v"}}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_make_one_backup_per_tick_across_a_leader_kill() {
    let world = world().await;
    let a = Server::start(&world.server_kubeconfig, "replica-a");
    a.wait_ready().await;
    eventually("replica-a leads", LEASE * 3, || async {
        holder(&world).await.as_deref() == Some("replica-a")
    })
    .await;
    let b = Server::start(&world.server_kubeconfig, "replica-b");
    b.wait_ready().await;
    world
        .create_available_location("default", json!({}), json!({}))
        .await;
    workload(&world).await;

    let every = 3i64;
    create_schedule(
        &world,
        "tick",
        json!({"schedule": "@every 3s",
               "template": {"includedNamespaces": ["app"], "ttl": "1h0m0s",
                            "metadata": {"labels": {"tier": "gold"}}}}),
    )
    .await;
    let created = schedules(&world)
        .get("tick")
        .await
        .unwrap()
        .metadata
        .creation_timestamp
        .unwrap()
        .0;

    // Steady state: a backup per tick, each Completed, named after its tick and labelled.
    let before = wait_finished(&world, "tick", 3, Duration::from_secs(40)).await;
    let leader_metrics = a.metrics().await;
    let next = sample(
        &leader_metrics,
        "veloxide_schedule_next_run_timestamp_seconds",
        &[("schedule", "tick")],
    )
    .expect("the leader exports the next run");
    assert!(next as i64 > created.as_second());
    assert!(
        sample(
            &leader_metrics,
            "velero_backup_attempt_total",
            &[("schedule", "tick")]
        )
        .is_some(),
        "Velero's backup series carry schedule=tick"
    );
    assert!(
        sample(
            &b.metrics().await,
            "veloxide_schedule_next_run_timestamp_seconds",
            &[("schedule", "tick")]
        )
        .is_none(),
        "the follower runs no schedule"
    );

    // Another replica got to a tick first (or this leader made its backup and restarted before
    // writing lastBackup): the backup of the next tick already exists when the tick comes. The
    // leader must record it, not make a second one for that tick, and not skip to another.
    let tick = schedules(&world).get("tick").await.unwrap();
    let (status, uid) = (tick.status.unwrap(), tick.metadata.uid.unwrap());
    let mut raced = status.next_run.unwrap().0;
    if raced.duration_since(Timestamp::now()) < jiff::SignedDuration::from_millis(1500) {
        raced += jiff::SignedDuration::from_secs(every);
    }
    let raced_name = format!("tick-{}", raced.strftime("%Y%m%d%H%M%S"));
    let backup: Backup = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": raced_name, "namespace": NS,
                     "labels": {"velero.io/schedule-name": "tick", "tier": "gold",
                                "veloxide.io/schedule-uid": uid}},
        "spec": {"includedNamespaces": ["app"], "ttl": "1h0m0s"},
    }))
    .unwrap();
    match backups(&world)
        .create(&PostParams::default(), &backup)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => panic!("the tick came before the test"),
        Err(e) => panic!("{e}"),
    }
    eventually(
        "the leader records the raced tick",
        Duration::from_secs(15),
        || async {
            let s = schedules(&world).get("tick").await.unwrap();
            s.status
                .and_then(|st| st.last_backup)
                .is_some_and(|t| t.0 >= raced)
        },
    )
    .await;

    // Kill the leader mid-run: the moment a new backup of the schedule appears.
    let seen = backups_of(&world, "tick").await.len();
    eventually("a new backup appears", Duration::from_secs(15), || async {
        backups_of(&world, "tick").await.len() > seen
    })
    .await;
    let killed = Instant::now();
    a.kill();
    eventually("replica-b takes over", LEASE * 4, || async {
        holder(&world).await.as_deref() == Some("replica-b")
    })
    .await;
    let took = killed.elapsed();
    eprintln!("takeover after SIGKILL: {took:?}");
    let after = wait_finished(&world, "tick", before.len() + 5, Duration::from_secs(60)).await;

    // Every backup is on the schedule's grid (creation + k * 3s): one per tick, never two.
    let ticks: Vec<Timestamp> = after.iter().map(|b| tick_of("tick", b)).collect();
    let distinct: BTreeSet<i64> = ticks.iter().map(|t| t.as_second()).collect();
    assert_eq!(
        distinct.len(),
        ticks.len(),
        "two backups for one tick: {ticks:?}"
    );
    for t in &ticks {
        assert_eq!(
            (t.as_second() - created.as_second()) % every,
            0,
            "{t} is not a tick of @every 3s from {created}: {ticks:?}"
        );
    }
    assert!(ticks.contains(&raced), "{ticks:?}");
    // Nothing lost beyond what no-catch-up coalesces (the ticks that passed while no replica
    // held the lease make one backup): every gap is at most the takeover time plus one
    // interval (and one more for a backup still running).
    for pair in ticks.windows(2) {
        let gap = pair[1].as_second() - pair[0].as_second();
        assert!(gap >= every, "two backups within one interval: {pair:?}");
        assert!(
            gap <= took.as_secs() as i64 + 3 * every,
            "a gap of {gap}s: runs were lost ({ticks:?})"
        );
    }
    let mut interrupted = 0;
    for backup in &after {
        let name = backup.metadata.name.clone().unwrap();
        let labels = backup.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("velero.io/schedule-name").map(String::as_str),
            Some("tick"),
            "{name}"
        );
        assert_eq!(
            labels.get("tier").map(String::as_str),
            Some("gold"),
            "{name}"
        );
        let reason = backup
            .status
            .as_ref()
            .and_then(|s| s.failure_reason.clone())
            .unwrap_or_default();
        if backup.phase() == BackupPhase::Failed && reason.contains("during the server starting") {
            // Running on the killed leader: failed by the new leader's start-up sweep (Velero's
            // restart rule); the schedule went on with its next tick.
            interrupted += 1;
            continue;
        }
        if backup.phase().is_terminal() {
            assert_eq!(
                backup.phase(),
                BackupPhase::Completed,
                "{name}: {:?}",
                backup.status
            );
        }
    }
    assert!(
        interrupted <= 1,
        "{interrupted} backups interrupted by one kill"
    );
    let status = schedules(&world).get("tick").await.unwrap().status.unwrap();
    assert_eq!(status.phase, Some(SchedulePhase::Enabled));
    assert!(status.last_backup.unwrap().0 >= *ticks.last().unwrap());
    drop(b);
}

/// kubectl against the control plane, as a user runs it.
fn kubectl(world: &World, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write as _;
    let mut child = Command::new(world.cluster.kubectl_program())
        .args(args)
        .env("KUBECONFIG", &world.cluster.kubeconfig)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn veloxide(world: &World, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .args(args)
        .env("KUBECONFIG", &world.cluster.kubeconfig)
        .env("VELERO_NAMESPACE", NS)
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Register the webhook process for Schedules, as the chart does for the server's.
async fn register_webhook(world: &World, webhook: &WebhookProcess) {
    use base64::Engine as _;
    let vwc = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "veloxide"},
        "webhooks": [{
            "name": "schedule.veloxide.velero.io",
            "admissionReviewVersions": ["v1"], "sideEffects": "None", "failurePolicy": "Fail",
            "clientConfig": {
                "url": format!("{}{}", webhook.base_url, veloxide::webhook::VALIDATE_SCHEDULE_PATH),
                "caBundle": base64::engine::general_purpose::STANDARD.encode(webhook.ca.cert_pem()),
            },
            "rules": [{"apiGroups": ["velero.io"], "apiVersions": ["v1"],
                       "operations": ["CREATE", "UPDATE"], "resources": ["schedules"]}],
        }],
    });
    let out = kubectl(world, &["apply", "-f", "-"], Some(&vwc.to_string()));
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_time_zones_pause_and_from_schedule() {
    let world = world().await;
    let webhook = WebhookProcess::start();
    register_webhook(&world, &webhook).await;
    let server = backup_support::serve_plain_location(&world, "default").await;
    workload(&world).await;

    // A bad cron is refused at `kubectl apply`, naming the field and the fix.
    let bad = json!({"apiVersion": "velero.io/v1", "kind": "Schedule",
        "metadata": {"name": "bad", "namespace": NS},
        "spec": {"schedule": "CRON_TZ=Europe/Berln 0 3 * * *", "template": {}}});
    let out = kubectl(&world, &["apply", "-f", "-"], Some(&bad.to_string()));
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("admission webhook \"schedule.veloxide.velero.io\" denied the request")
            && said.contains("spec.schedule: unknown time zone \"Europe/Berln\"")
            && said.contains("Europe/Berlin"),
        "{said}"
    );
    let out = veloxide(
        &world,
        &["schedule", "create", "bad", "--schedule", "0 3 * *"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--schedule: expected exactly 5 fields"),
        "{}",
        text(&out)
    );
    assert!(schedules(&world).get_opt("bad").await.unwrap().is_none());

    // A step past the field's range (robfig would run `*/90` hourly) and a name its backups'
    // label cannot hold are refused too, each naming the field.
    for (name, cron, want) in [
        (
            "steps".to_owned(),
            "*/90 * * * *",
            "spec.schedule: minute field \"*/90\": step 90 is past the field's range (0-59)",
        ),
        ("n".repeat(64), "@daily", "metadata.name: 64 characters"),
    ] {
        let object = json!({"apiVersion": "velero.io/v1", "kind": "Schedule",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"schedule": cron, "template": {}}});
        let out = kubectl(&world, &["apply", "-f", "-"], Some(&object.to_string()));
        assert!(!out.status.success(), "{name}");
        assert!(text(&out).contains(want), "{}", text(&out));
    }
    // A TTL shorter than what retention keeps is applied, with a warning saying so.
    let short = json!({"apiVersion": "velero.io/v1", "kind": "Schedule",
        "metadata": {"name": "short-ttl", "namespace": NS},
        "spec": {"schedule": "@daily", "paused": true, "template": {"ttl": "24h0m0s"},
                 "retention": {"keepDaily": 7}}});
    let out = kubectl(&world, &["apply", "-f", "-"], Some(&short.to_string()));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(
            "Warning: spec.template.ttl: 24h0m0s is shorter than the 168h spec.retention.keepDaily"
        ),
        "{}",
        text(&out)
    );

    // A zoned schedule is Enabled with the next 03:00 in Berlin as its next run.
    let good = json!({"apiVersion": "velero.io/v1", "kind": "Schedule",
        "metadata": {"name": "berlin", "namespace": NS},
        "spec": {"schedule": "CRON_TZ=Europe/Berlin 0 3 * * *", "template": {"includedNamespaces": ["app"]}}});
    let out = kubectl(&world, &["apply", "-f", "-"], Some(&good.to_string()));
    assert!(out.status.success(), "{}", text(&out));
    let berlin = jiff::tz::TimeZoneDatabase::bundled()
        .get("Europe/Berlin")
        .unwrap();
    let now = Timestamp::now().to_zoned(berlin.clone());
    let today = now.date().at(3, 0, 0, 0).to_zoned(berlin.clone()).unwrap();
    let expected = if today > now {
        today
    } else {
        now.date()
            .tomorrow()
            .unwrap()
            .at(3, 0, 0, 0)
            .to_zoned(berlin)
            .unwrap()
    }
    .timestamp();
    eventually(
        "berlin is Enabled with its next run",
        Duration::from_secs(10),
        || async {
            let s = schedules(&world).get("berlin").await.unwrap();
            s.phase() == SchedulePhase::Enabled
                && s.status.and_then(|st| st.next_run).map(|t| t.0) == Some(expected)
        },
    )
    .await;
    let out = veloxide(&world, &["schedule", "get"]);
    assert!(out.status.success(), "{}", text(&out));
    let table = text(&out);
    assert!(
        table.lines().next().unwrap().contains("NEXT RUN"),
        "{table}"
    );
    assert!(
        table.contains(&expected.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()),
        "{table}"
    );

    // Pause and unpause through the CLI.
    let out = veloxide(
        &world,
        &[
            "schedule",
            "create",
            "often",
            "--schedule",
            "@every 2s",
            "--include-namespaces",
            "app",
            "--labels",
            "team=shop",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    wait_finished(&world, "often", 1, Duration::from_secs(20)).await;
    let out = veloxide(&world, &["schedule", "pause", "often"]);
    assert!(out.status.success(), "{}", text(&out));
    eventually(
        "often shows no next run",
        Duration::from_secs(10),
        || async {
            let s = schedules(&world).get("often").await.unwrap();
            s.status.and_then(|st| st.next_run).is_none()
        },
    )
    .await;
    eventually(
        "often's last backup finished",
        Duration::from_secs(20),
        || async {
            backups_of(&world, "often")
                .await
                .iter()
                .all(|b| b.phase().is_terminal())
        },
    )
    .await;
    let paused_count = backups_of(&world, "often").await.len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        backups_of(&world, "often").await.len(),
        paused_count,
        "a paused schedule made a backup"
    );
    assert!(
        sample(
            &server.metrics().await,
            "veloxide_schedule_next_run_timestamp_seconds",
            &[("schedule", "often")]
        )
        .is_none(),
        "a paused schedule has no next run series"
    );
    let out = veloxide(&world, &["schedule", "unpause", "--all"]);
    assert!(out.status.success(), "{}", text(&out));
    wait_finished(&world, "often", paused_count + 1, Duration::from_secs(20)).await;
    let list = backups_of(&world, "often").await;
    assert_eq!(
        list[0]
            .metadata
            .labels
            .as_ref()
            .unwrap()
            .get("team")
            .map(String::as_str),
        Some("shop"),
        "the schedule's labels go to its backups"
    );

    // One backup from the schedule's template, now.
    let out = veloxide(
        &world,
        &["backup", "create", "by-hand", "--from-schedule", "berlin"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let backup = wait_phase(
        &world,
        "by-hand",
        BackupPhase::Completed,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        backup.spec.included_namespaces,
        Some(vec!["app".to_owned()])
    );
    assert_eq!(backup.schedule(), "berlin");

    // With no NAME, as in Velero's own `backup create --help` example: named after the
    // schedule and the UTC time, like the schedule's own backups.
    let names = |list: Vec<Backup>| -> BTreeSet<String> {
        list.into_iter().filter_map(|b| b.metadata.name).collect()
    };
    let before = names(backups_of(&world, "berlin").await);
    let out = veloxide(&world, &["backup", "create", "--from-schedule", "berlin"]);
    assert!(out.status.success(), "{}", text(&out));
    let after = names(backups_of(&world, "berlin").await);
    let unnamed = after
        .difference(&before)
        .find(|n| {
            n.strip_prefix("berlin-")
                .is_some_and(|t| t.len() == 14 && t.bytes().all(|c| c.is_ascii_digit()))
        })
        .unwrap_or_else(|| panic!("no berlin-YYYYMMDDhhmmss backup: {}", text(&out)))
        .to_owned();
    assert!(text(&out).contains(&unnamed), "{}", text(&out));
    wait_phase(
        &world,
        &unnamed,
        BackupPhase::Completed,
        Duration::from_secs(30),
    )
    .await;

    // `kubectl get backups` shows when a backup expires: a `date` printer column prints
    // `<invalid>` for a time in the future, so the CRD's column is the timestamp itself.
    let expires = backup
        .status
        .as_ref()
        .unwrap()
        .expiration
        .as_ref()
        .unwrap()
        .0;
    let out = kubectl(&world, &["-n", NS, "get", "backup", "by-hand"], None);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(table.contains("EXPIRES"), "{table}");
    assert!(!table.contains("<invalid>"), "{table}");
    assert!(
        table.contains(&expires.to_string()[..10]),
        "{expires}: {table}"
    );

    // Deleting a schedule takes its series with it; its backups stay.
    let metrics = server.metrics().await;
    assert!(
        sample(
            &metrics,
            "velero_backup_attempt_total",
            &[("schedule", "often")]
        )
        .is_some()
    );
    schedules(&world)
        .delete("often", &DeleteParams::default())
        .await
        .unwrap();
    eventually("often's series go", Duration::from_secs(30), || async {
        let metrics = server.metrics().await;
        sample(
            &metrics,
            "velero_backup_attempt_total",
            &[("schedule", "often")],
        )
        .is_none()
            && sample(
                &metrics,
                "veloxide_schedule_created_timestamp_seconds",
                &[("schedule", "often")],
            )
            .is_none()
    })
    .await;
    assert!(!backups_of(&world, "often").await.is_empty());
}
