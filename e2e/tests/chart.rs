//! The Helm chart (charts/veloxide), checked with no cluster:
//! - its CRDs are byte for byte the generated ones in crds/;
//! - `helm lint --strict` passes, and `helm template` with the default values and with each
//!   webhook-certificate option renders objects that validate offline: built-in kinds with
//!   `kubernetes-validate --strict` against Kubernetes 1.33's schemas; BackupStorageLocations
//!   with veloxide's own location parser (`veloxide backup-location validate`, the webhook's
//!   rules) and, in the install test, against the CRD schema by kube-apiserver; ServiceMonitor,
//!   PodMonitor, PrometheusRule, Certificate and Issuer against prometheus-operator's and
//!   cert-manager's schemas, with every alert expression parsed as PromQL
//!   (charts/veloxide/ci/validate-custom-resources.mjs);
//! - values.schema.json and the templates refuse bad values with a message naming them;
//! - `helm install` into a real control plane (kube-apiserver with RBAC, kube-controller-manager,
//!   etcd), after which a local `veloxide server` runs with the installed Deployment's flags, the
//!   certificate from the chart-made Secret and the chart's ServiceAccount identity (the RBAC
//!   helm applied, so a permission the chart forgot fails the test); kube-apiserver calls the
//!   chart's webhook through the chart's Service (its Endpoints routed to the local server over a
//!   veth pair, `e2e::netns`) and kubectl shows its refusal of a bad location; the server becomes
//!   ready and `/metrics` answers; `helm upgrade` keeps the generated CA (re-issuing the serving
//!   certificate near its end) and `helm uninstall` removes the webhook.
//!
//! The tools come from e2e/tools/install-chart-tools.sh (`make test-tools`); a missing tool fails
//! the tests with the command to run, it never skips them.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use base64::Engine;
use common::{cluster, fails, kubectl, kubectl_stdin, ok, repo, text, tool, veloxide_binary};
use e2e::cluster::Cluster;
use serde::Deserialize;
use serde_json::{Value, json};

const INSTALL_TOOLS: &str = "run `bash e2e/tools/install-chart-tools.sh` (or `make test-tools`)";
const NAMESPACE: &str = "velero";
const RELEASE: &str = "veloxide";

fn chart() -> PathBuf {
    repo().join("charts/veloxide")
}

fn ci_values(name: &str) -> String {
    chart().join("ci").join(name).display().to_string()
}

#[track_caller]
fn required_tool(path: PathBuf, what: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{what} is missing at {}: {INSTALL_TOOLS}",
        path.display()
    );
    path
}

fn helm() -> PathBuf {
    if let Some(p) = std::env::var_os("HELM_BIN") {
        return p.into();
    }
    required_tool(repo().join(".work/bin/helm"), "helm")
}

fn kubernetes_validate() -> PathBuf {
    required_tool(
        repo().join(".work/venv-k8s/bin/kubernetes-validate"),
        "kubernetes-validate",
    )
}

fn chart_node_dir() -> PathBuf {
    let dir = repo().join(".work/chart-node");
    required_tool(
        dir.join("node_modules/@kubernetes-models/prometheus-operator"),
        "the npm validators for prometheus-operator and cert-manager objects",
    );
    dir
}

fn run(program: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    common::output(Command::new(program).args(args), stdin)
}

/// `helm template` of the chart as release `veloxide` in `velero`, with extra arguments.
fn render(args: &[&str]) -> Result<String, String> {
    let chart = chart().display().to_string();
    let mut all = vec!["template", RELEASE, &chart, "--namespace", NAMESPACE];
    all.extend_from_slice(args);
    let out = run(&helm(), &all, None);
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(text(&out))
    }
}

fn docs(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).expect("helm renders valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

#[track_caller]
fn rendered(args: &[&str]) -> Vec<Value> {
    docs(&render(args).unwrap_or_else(|e| panic!("helm template {args:?} failed:\n{e}")))
}

fn kind_of(v: &Value) -> &str {
    v["kind"].as_str().unwrap_or_default()
}

fn group_of(v: &Value) -> &str {
    let api = v["apiVersion"].as_str().unwrap_or_default();
    api.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

#[track_caller]
fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| kind_of(o) == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, got {}", found.len());
    found[0]
}

fn kinds(objects: &[Value]) -> BTreeSet<String> {
    objects.iter().map(|o| kind_of(o).to_string()).collect()
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .expect("valid base64")
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", e2e::random_hex(4)));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Velero's server flags come from values: the defaults always, the others when set; a
/// controller name Velero does not know is refused by the values schema.
#[test]
fn chart_passes_velero_s_server_flags() {
    let args_of = |set: &[&str]| -> Vec<String> {
        let objects = rendered(set);
        let deploy = one(&objects, "Deployment");
        deploy["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    };
    let defaults = args_of(&[]);
    for flag in [
        "--log-level=info",
        "--log-format=text",
        "--terminating-resource-timeout=10m",
        "--shutdown-timeout=25s",
    ] {
        assert!(defaults.iter().any(|a| a == flag), "{flag}: {defaults:?}");
    }
    for flag in [
        "--disable-controllers",
        "--restore-only",
        "--profiler-address",
    ] {
        assert!(
            !defaults.iter().any(|a| a.starts_with(flag)),
            "{flag}: {defaults:?}"
        );
    }
    let set = args_of(&[
        "--set",
        "server.logLevel=debug",
        "--set",
        "server.logFormat=json",
        "--set",
        "server.terminatingResourceTimeout=2m",
        "--set",
        "server.disableControllers={schedule,gc}",
        "--set",
        "server.restoreOnly=true",
        "--set",
        "server.profilerAddress=localhost:6060",
        "--set",
        "terminationGracePeriodSeconds=3",
    ]);
    for flag in [
        "--log-level=debug",
        "--log-format=json",
        "--terminating-resource-timeout=2m",
        "--disable-controllers=schedule,gc",
        "--restore-only",
        "--profiler-address=localhost:6060",
        "--shutdown-timeout=1s",
    ] {
        assert!(set.iter().any(|a| a == flag), "{flag}: {set:?}");
    }
    let refused = render(&[
        "--set",
        "server.disableControllers={backup-storage-location}",
    ]);
    assert!(refused.is_err(), "{refused:?}");
}

/// The CRDs the chart installs are the generated ones in crds/, file for file, byte for byte.
#[test]
fn chart_crds_are_the_generated_crds() {
    let list = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml"))
            .collect()
    };
    let generated = repo().join("crds");
    let charted = chart().join("crds");
    let names = list(&generated);
    assert!(!names.is_empty(), "crds/ holds no CRD");
    assert_eq!(
        names,
        list(&charted),
        "charts/veloxide/crds/ and crds/ hold different files: run `make crds`"
    );
    for name in names {
        let a = std::fs::read(generated.join(&name)).unwrap();
        let b = std::fs::read(charted.join(&name)).unwrap();
        assert!(
            a == b,
            "charts/veloxide/crds/{name} differs from crds/{name}: run `make crds`"
        );
    }
}

/// The values files the render and lint checks use, one per certificate option and feature.
fn scenarios(scratch: &Path) -> Vec<(&'static str, Vec<String>)> {
    let ca = e2e::peers::certs::Pki::new("chart-test-ca");
    let bundle = scratch.join("storage-ca.pem");
    std::fs::write(&bundle, ca.ca.cert_pem()).unwrap();
    let own_ca = base64::engine::general_purpose::STANDARD.encode(ca.ca.cert_pem());
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        ("defaults", vec![]),
        (
            "cert-manager",
            s(&[
                "--set",
                "webhook.certificate.source=certManager",
                "--set",
                "metrics.serviceMonitor.enabled=true",
                "--set",
                "metrics.prometheusRule.enabled=true",
            ]),
        ),
        (
            "cert-manager-issuer",
            s(&[
                "--set",
                "webhook.certificate.source=certManager",
                "--set",
                "webhook.certificate.certManager.issuerRef.name=corp-ca",
                "--set",
                "webhook.certificate.certManager.issuerRef.kind=ClusterIssuer",
            ]),
        ),
        (
            "own-secret",
            vec![
                "--set".into(),
                "webhook.certificate.source=secret".into(),
                "--set".into(),
                "webhook.certificate.secret.name=my-webhook-tls".into(),
                "--set".into(),
                format!("webhook.certificate.secret.caBundle={own_ca}"),
                "--set".into(),
                "metrics.podMonitor.enabled=true".into(),
            ],
        ),
        (
            "locations",
            vec![
                "-f".into(),
                ci_values("locations-values.yaml"),
                "--set".into(),
                "backupStorageLocations[2].name=own-ca".into(),
                "--set".into(),
                "backupStorageLocations[2].bucket=velero-backups".into(),
                "--set-file".into(),
                format!("backupStorageLocations[2].caBundle={}", bundle.display()),
                "--set".into(),
                "rbac.secretsScope=cluster".into(),
                "--set".into(),
                "rbac.restore.allowRBACEscalation=true".into(),
                // Restores only in these namespaces (RoleBindings, and -restore-cluster).
                "--set".into(),
                "rbac.restore.namespaces={app,shop}".into(),
                "--set".into(),
                "rbac.restore.podSecurityLabels=true".into(),
            ],
        ),
        (
            "node-agent",
            s(&[
                "--set",
                "nodeAgent.enabled=true",
                "--set",
                "nodeAgent.tolerations[0].operator=Exists",
            ]),
        ),
        (
            "no-webhook",
            s(&[
                "--set",
                "webhook.enabled=false",
                "--set",
                "replicaCount=1",
                "--set",
                "podDisruptionBudget.enabled=false",
                "--set",
                "rbac.restore.enabled=false",
            ]),
        ),
    ]
}

#[test]
fn chart_lints_strictly_with_each_option() {
    let scratch = Scratch::new("veloxide-chart-lint");
    let chart = chart().display().to_string();
    for (name, args) in scenarios(&scratch.0) {
        let mut all = vec!["lint", "--strict", &chart, "--namespace", NAMESPACE];
        all.extend(args.iter().map(String::as_str));
        let out = run(&helm(), &all, None);
        let t = text(&out);
        assert!(
            out.status.success(),
            "helm lint --strict ({name}) failed:\n{t}"
        );
        assert!(t.contains("0 chart(s) failed"), "{name}: {t}");
    }
}

/// Kubernetes API groups whose kinds kubernetes-validate has schemas for.
fn is_builtin(group: &str) -> bool {
    matches!(
        group,
        "" | "apps"
            | "policy"
            | "rbac.authorization.k8s.io"
            | "admissionregistration.k8s.io"
            | "coordination.k8s.io"
    )
}

/// Validates every rendered object offline, each kind by the schema that fits it.
fn validate_offline(name: &str, objects: &[Value], scratch: &Path) {
    let builtin: Vec<&Value> = objects.iter().filter(|o| is_builtin(group_of(o))).collect();
    let yaml = builtin
        .iter()
        .map(|o| serde_norway::to_string(o).unwrap())
        .collect::<Vec<_>>()
        .join("---\n");
    let out = run(
        &kubernetes_validate(),
        &["-k", "1.33.0", "--strict", "-"],
        Some(&yaml),
    );
    let t = text(&out);
    assert!(
        out.status.success() && !t.contains("ERROR") && !t.contains("WARN"),
        "kubernetes-validate --strict ({name}):\n{t}"
    );
    assert_eq!(
        t.matches("passed for resource").count(),
        builtin.len(),
        "{name}: every built-in object validated:\n{t}"
    );

    let locations: Vec<&Value> = objects
        .iter()
        .filter(|o| kind_of(o) == "BackupStorageLocation")
        .collect();
    if !locations.is_empty() {
        let file = scratch.join(format!("{name}-locations.yaml"));
        let yaml = locations
            .iter()
            .map(|o| serde_norway::to_string(o).unwrap())
            .collect::<Vec<_>>()
            .join("---\n");
        std::fs::write(&file, yaml).unwrap();
        let out = run(
            &veloxide_binary(),
            &[
                "backup-location",
                "validate",
                "-f",
                &file.display().to_string(),
            ],
            None,
        );
        let t = text(&out);
        assert!(out.status.success(), "{name}: locations refused:\n{t}");
        assert_eq!(t.matches(": allowed").count(), locations.len(), "{t}");
        assert!(!t.contains("warning:"), "{name}: locations warned:\n{t}");
    }

    let custom: Vec<&Value> = objects
        .iter()
        .filter(|o| !is_builtin(group_of(o)) && group_of(o) != "velero.io")
        .collect();
    if !custom.is_empty() {
        let node_dir = chart_node_dir();
        let script = chart().join("ci/validate-custom-resources.mjs");
        let out = run(
            Path::new("node"),
            &[
                &script.display().to_string(),
                &node_dir.display().to_string(),
            ],
            Some(&serde_json::to_string(&custom).unwrap()),
        );
        let t = text(&out);
        assert!(out.status.success(), "{name}: custom resources:\n{t}");
        assert_eq!(t.matches("valid ").count(), custom.len(), "{t}");
    }
}

#[test]
fn chart_renders_valid_objects_for_each_option() {
    let scratch = Scratch::new("veloxide-chart-render");
    for (name, args) in scenarios(&scratch.0) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let objects = rendered(&args);
        validate_offline(name, &objects, &scratch.0);
        check_workload(name, &objects);
        check_rbac(name, &objects);
        match name {
            "defaults" => check_generated_certificate(&objects),
            "cert-manager" | "cert-manager-issuer" => check_cert_manager(name, &objects),
            "own-secret" => check_own_secret(&objects),
            "no-webhook" => {
                let k = kinds(&objects);
                assert!(!k.contains("ValidatingWebhookConfiguration"), "{k:?}");
                assert!(!k.contains("PodDisruptionBudget"), "{k:?}");
                let args = &one(&objects, "Deployment")["spec"]["template"]["spec"]["containers"]
                    [0]["args"];
                assert!(!args.to_string().contains("--webhook-listen"), "{args}");
            }
            _ => {}
        }
        if args.contains(&"metrics.prometheusRule.enabled=true") {
            check_alerts(&objects);
        }
        if args.iter().any(|a| a.contains("Monitor.enabled=true")) {
            check_monitors(&objects);
        }
        if name == "locations" {
            check_locations(&objects);
        }
        check_node_agent(name, &objects);
    }
}

/// The node agent (nodeAgent.enabled): a DaemonSet of `veloxide node-agent` that reads the
/// kubelet's pods directory with HostToContainer propagation, knows its node from the downward
/// API and stays in the issue's 128Mi; its own identity, with none of the server's rights;
/// velero-repo-credentials made with a random password. None of it without the value.
fn check_node_agent(name: &str, objects: &[Value]) {
    let agent: Vec<&Value> = objects
        .iter()
        .filter(|o| {
            o["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .ends_with("node-agent")
        })
        .collect();
    let password = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "velero-repo-credentials");
    if name != "node-agent" {
        assert!(agent.is_empty() && password.is_none(), "{name}: {agent:?}");
        return;
    }
    let ds = one(objects, "DaemonSet");
    assert_eq!(ds["metadata"]["name"], "veloxide-node-agent");
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "veloxide-node-agent");
    assert_eq!(pod["tolerations"], json!([{"operator": "Exists"}]));
    // Not selected by the server's Deployment, Service or PodDisruptionBudget.
    let server = &one(objects, "Deployment")["spec"]["selector"]["matchLabels"];
    let labels = &ds["spec"]["template"]["metadata"]["labels"];
    assert!(
        server
            .as_object()
            .unwrap()
            .iter()
            .any(|(k, v)| &labels[k] != v),
        "the server's selector {server} matches the agent's pods {labels}"
    );
    let c = &pod["containers"][0];
    assert_eq!(
        c["image"],
        one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    );
    assert_eq!(
        c["args"],
        json!([
            "node-agent",
            "--namespace=$(VELERO_NAMESPACE)",
            "--kubelet-pods-dir=/var/lib/kubelet/pods"
        ])
    );
    assert!(
        c["env"].as_array().unwrap().contains(
            &json!({"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}})
        ),
        "{}",
        c["env"]
    );
    assert_eq!(c["resources"]["limits"]["memory"], "128Mi");
    assert_eq!(
        pod["volumes"][0],
        json!({"name": "host-pods", "hostPath": {"path": "/var/lib/kubelet/pods", "type": "Directory"}})
    );
    assert_eq!(
        c["volumeMounts"][0],
        json!({"name": "host-pods", "mountPath": "/var/lib/kubelet/pods", "mountPropagation": "HostToContainer"})
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["privileged"], false);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(
        sc["capabilities"]["add"],
        json!([
            "CHOWN",
            "DAC_OVERRIDE",
            "DAC_READ_SEARCH",
            "FOWNER",
            "FSETID"
        ])
    );
    // Its identity: its own ServiceAccount, bound to its own roles only.
    for binding in agent.iter().filter(|o| kind_of(o).ends_with("Binding")) {
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": "veloxide-node-agent", "namespace": NAMESPACE}])
        );
        assert_eq!(binding["roleRef"]["name"], "veloxide-node-agent");
    }
    let rules: Vec<&Value> = agent
        .iter()
        .filter(|o| kind_of(o).ends_with("Role"))
        .flat_map(|o| o["rules"].as_array().unwrap())
        .collect();
    for rule in &rules {
        let verbs = rule["verbs"].to_string();
        let resources = rule["resources"].to_string();
        assert!(!verbs.contains('*') && !resources.contains('*'), "{rule}");
        assert!(
            resources.contains("events") || !(verbs.contains("delete") || verbs.contains("create")),
            "{rule}"
        );
        if resources.contains("secrets") || resources.contains("pods") {
            assert_eq!(rule["verbs"], json!(["get"]), "{rule}");
        }
    }
    let cluster_role = agent.iter().find(|o| kind_of(o) == "ClusterRole").unwrap();
    assert_eq!(
        cluster_role["rules"],
        json!([{"apiGroups": [""], "resources": ["pods", "persistentvolumeclaims", "persistentvolumes"], "verbs": ["get"]}])
    );
    let secret = password.expect("velero-repo-credentials");
    assert_eq!(
        secret["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    let pw = b64(secret["data"]["repository-password"].as_str().unwrap());
    assert_eq!(pw.len(), 32);
    assert!(pw.iter().all(u8::is_ascii_alphanumeric));
}

fn check_workload(name: &str, objects: &[Value]) {
    let deploy = one(objects, "Deployment");
    let pod = &deploy["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let webhook = kinds(objects).contains("ValidatingWebhookConfiguration");
    if name != "no-webhook" {
        assert_eq!(deploy["spec"]["replicas"], 2, "{name}: two replicas");
        let pdb = one(objects, "PodDisruptionBudget");
        assert_eq!(pdb["spec"]["minAvailable"], 1);
        assert_eq!(
            pdb["spec"]["selector"]["matchLabels"],
            deploy["spec"]["selector"]["matchLabels"]
        );
    }
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(
        c["resources"],
        json!({"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}),
        "smaller than Velero's 500m/128Mi request"
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "server");
    assert!(
        args.contains(&"--namespace=$(VELERO_NAMESPACE)"),
        "{args:?}"
    );
    assert!(args.contains(&"--metrics-listen=0.0.0.0:8085"), "{args:?}");
    assert_eq!(
        c["env"][0],
        json!({"name": "VELERO_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}})
    );
    let service = one(objects, "Service");
    let ports: Vec<&str> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    if webhook {
        assert!(args.contains(&"--webhook-listen=0.0.0.0:9443"), "{args:?}");
        assert!(args.contains(&"--tls-cert-file=/certs/tls.crt"), "{args:?}");
        assert_eq!(ports, ["metrics", "webhook"]);
        let vwc = one(objects, "ValidatingWebhookConfiguration");
        let hook = &vwc["webhooks"][0];
        assert_eq!(vwc["webhooks"].as_array().unwrap().len(), 2);
        // The second entry sends Schedules to the same server, on their own path.
        let schedules = &vwc["webhooks"][1];
        assert_eq!(schedules["name"], "schedule.veloxide.velero.io");
        assert_eq!(schedules["rules"][0]["resources"], json!(["schedules"]));
        assert_eq!(
            schedules["clientConfig"]["service"]["path"],
            "/validate-velero-io-v1-schedule"
        );
        assert_eq!(schedules["failurePolicy"], hook["failurePolicy"]);
        assert_eq!(hook["failurePolicy"], "Fail");
        assert_eq!(hook["sideEffects"], "None");
        assert_eq!(hook["timeoutSeconds"], 5);
        assert_eq!(hook["admissionReviewVersions"], json!(["v1"]));
        assert_eq!(hook["rules"][0]["operations"], json!(["CREATE", "UPDATE"]));
        assert_eq!(
            hook["rules"][0]["resources"],
            json!(["backupstoragelocations"])
        );
        let svc = &hook["clientConfig"]["service"];
        assert_eq!(svc["name"], service["metadata"]["name"]);
        assert_eq!(svc["namespace"], NAMESPACE);
        assert_eq!(svc["path"], "/validate-velero-io-v1-backupstoragelocation");
        assert_eq!(svc["port"], 443);
    } else {
        assert_eq!(ports, ["metrics"]);
    }
}

/// Least privilege: Secrets only in the release namespace unless rbac.secretsScope widens it.
fn check_rbac(name: &str, objects: &[Value]) {
    let cluster_rules: Vec<&Value> = objects
        .iter()
        .filter(|o| kind_of(o) == "ClusterRole")
        .flat_map(|o| o["rules"].as_array().unwrap())
        .collect();
    let wide = name == "locations"; // rbac.secretsScope=cluster there
    let grants_secrets = cluster_rules.iter().any(|r| {
        let groups = r["apiGroups"].to_string();
        let resources = r["resources"].to_string();
        (groups.contains("\"\"") || groups.contains("\"*\""))
            && (resources.contains("\"secrets\"") || resources.contains("\"*\""))
    });
    assert_eq!(
        grants_secrets, wide,
        "{name}: cluster-wide Secret access only with rbac.secretsScope=cluster: {cluster_rules:?}"
    );
    // No rule reads the core group, or every group, through "*": it would match pods/exec,
    // nodes/proxy and every other subresource, and even a list reaches them (an empty name in
    // the path with a metadata.name field selector). Only the hooks role names pods/exec.
    for rule in &cluster_rules {
        let groups = rule["apiGroups"].to_string();
        let resources: Vec<&str> = rule["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        if groups.contains("\"\"") || groups.contains("\"*\"") {
            assert!(
                resources.iter().all(|r| !r.contains('*'))
                    && (resources == ["pods/exec"] || resources.iter().all(|r| !r.contains('/'))),
                "{name}: the core group named one by one, no subresource: {rule}"
            );
        }
    }
    let roles: Vec<&Value> = objects
        .iter()
        .filter(|o| kind_of(o) == "Role" && o["metadata"]["name"] == "veloxide")
        .collect();
    assert_eq!(roles.len(), 1, "{name}: the server's Role");
    let role = roles[0];
    let secret_rule = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resources"] == json!(["secrets"]))
        .expect("the Role reads Secrets in the release namespace");
    assert_eq!(secret_rule["verbs"], json!(["get", "list", "watch"]));
    assert_eq!(role["metadata"]["namespace"], NAMESPACE);
    let lease = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resources"] == json!(["leases"]))
        .expect("leader election");
    assert_eq!(lease["verbs"], json!(["get", "create", "update", "patch"]));
    // Restores write named resources only: "*" matches every subresource (pods/exec,
    // pods/attach, pods/portforward, pods/eviction, serviceaccounts/token).
    for rule in objects
        .iter()
        .filter(|o| o["metadata"]["name"] == "veloxide-restore" && kind_of(o) == "ClusterRole")
        .flat_map(|o| o["rules"].as_array().unwrap())
        .filter(|r| !r["verbs"].to_string().contains("escalate"))
    {
        assert!(
            rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| !r.as_str().unwrap().contains(['*', '/'])),
            "{name}: the restore role names resources, no wildcard or subresource: {rule}"
        );
    }
    // The server creates only Backups (a schedule's, the sync's), DeleteBackupRequests
    // (expiry, retention) and PodVolumeBackups (a backup's file-system backups, one per pod
    // volume); no wildcard and no finalizers subresource on velero.io kinds.
    for rule in role["rules"].as_array().unwrap() {
        if rule["apiGroups"] == json!(["velero.io"]) {
            let resources = rule["resources"].to_string();
            assert!(
                !resources.contains('*') && !resources.contains("/finalizers"),
                "{name}: {rule}"
            );
            if rule["verbs"].to_string().contains("\"create\"") {
                assert!(
                    [
                        r#"["backups"]"#,
                        r#"["deletebackuprequests"]"#,
                        r#"["podvolumebackups"]"#,
                        r#"["podvolumerestores"]"#
                    ]
                    .contains(&resources.as_str()),
                    "{name}: {rule}"
                );
            }
        }
    }
    let restore = objects
        .iter()
        .any(|o| o["metadata"]["name"] == "veloxide-restore");
    assert_eq!(restore, name != "no-webhook", "{name}: restore ClusterRole");
    let escalate = cluster_rules
        .iter()
        .any(|r| r["verbs"].to_string().contains("escalate"));
    assert_eq!(
        escalate,
        name == "locations",
        "{name}: escalate only when allowed"
    );
}

fn verify_leaf(ca_pem: &[u8], leaf_pem: &[u8], dns: &str) {
    use openssl::x509::store::X509StoreBuilder;
    use openssl::x509::{X509, X509StoreContext};
    let ca = X509::from_pem(ca_pem).unwrap();
    let leaf = X509::from_pem(leaf_pem).unwrap();
    let mut store = X509StoreBuilder::new().unwrap();
    store.add_cert(ca).unwrap();
    let store = store.build();
    let chain = openssl::stack::Stack::new().unwrap();
    let mut ctx = X509StoreContext::new().unwrap();
    let verified = ctx
        .init(&store, &leaf, &chain, |c| c.verify_cert())
        .unwrap();
    assert!(verified, "the caBundle verifies the serving certificate");
    let names: Vec<String> = leaf
        .subject_alt_names()
        .expect("SANs")
        .iter()
        .filter_map(|n| n.dnsname().map(str::to_owned))
        .collect();
    assert!(names.iter().any(|n| n == dns), "{dns} in {names:?}");
}

fn check_generated_certificate(objects: &[Value]) {
    let secret = objects
        .iter()
        .find(|o| kind_of(o) == "Secret" && o["metadata"]["name"] == "veloxide-webhook-tls")
        .expect("the chart makes the webhook's Secret");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let vwc = one(objects, "ValidatingWebhookConfiguration");
    let bundle = b64(vwc["webhooks"][0]["clientConfig"]["caBundle"]
        .as_str()
        .expect("caBundle"));
    assert_eq!(bundle, b64(secret["data"]["ca.crt"].as_str().unwrap()));
    verify_leaf(
        &bundle,
        &b64(secret["data"]["tls.crt"].as_str().unwrap()),
        "veloxide.velero.svc",
    );
    let deploy = one(objects, "Deployment");
    let volumes = deploy["spec"]["template"]["spec"]["volumes"].to_string();
    assert!(volumes.contains("veloxide-webhook-tls"), "{volumes}");
}

fn check_cert_manager(name: &str, objects: &[Value]) {
    assert!(
        !objects.iter().any(|o| kind_of(o) == "Secret"),
        "{name}: cert-manager makes the Secret"
    );
    let certs: Vec<&Value> = objects
        .iter()
        .filter(|o| kind_of(o) == "Certificate")
        .collect();
    let serving = certs
        .iter()
        .find(|c| c["metadata"]["name"] == "veloxide-webhook")
        .expect("serving Certificate");
    assert_eq!(serving["spec"]["secretName"], "veloxide-webhook-tls");
    assert!(
        serving["spec"]["dnsNames"]
            .as_array()
            .unwrap()
            .contains(&json!("veloxide.velero.svc"))
    );
    let vwc = one(objects, "ValidatingWebhookConfiguration");
    assert_eq!(
        vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        "velero/veloxide-webhook"
    );
    assert!(vwc["webhooks"][0]["clientConfig"]["caBundle"].is_null());
    if name == "cert-manager-issuer" {
        assert_eq!(certs.len(), 1, "no bootstrap CA with an issuerRef");
        assert_eq!(
            serving["spec"]["issuerRef"],
            json!({"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"})
        );
    } else {
        assert!(kinds(objects).contains("Issuer"));
        assert_eq!(serving["spec"]["issuerRef"]["name"], "veloxide-webhook-ca");
    }
}

fn check_own_secret(objects: &[Value]) {
    assert!(!objects.iter().any(|o| kind_of(o) == "Secret"));
    let deploy = one(objects, "Deployment");
    let volumes = deploy["spec"]["template"]["spec"]["volumes"].to_string();
    assert!(volumes.contains("my-webhook-tls"), "{volumes}");
    let vwc = one(objects, "ValidatingWebhookConfiguration");
    let bundle = b64(vwc["webhooks"][0]["clientConfig"]["caBundle"]
        .as_str()
        .unwrap());
    assert!(
        String::from_utf8(bundle)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
}

/// The alerts the issue asks for, written against the metric names the server exports.
fn check_alerts(objects: &[Value]) {
    let rule = one(objects, "PrometheusRule");
    let rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap();
    let allowed: BTreeSet<&str> = ["alert", "expr", "for", "labels", "annotations"].into();
    for r in rules {
        for key in r.as_object().unwrap().keys() {
            assert!(allowed.contains(key.as_str()), "unknown rule field {key}");
        }
        assert!(r["labels"]["severity"].is_string(), "{r}");
        assert!(r["annotations"]["summary"].is_string(), "{r}");
    }
    let expr = |alert: &str| -> String {
        rules
            .iter()
            .find(|r| r["alert"] == alert)
            .unwrap_or_else(|| panic!("alert {alert}"))["expr"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        expr("VeloxideBackupLocationUnavailable").contains("velero_backup_location_status_gauge")
    );
    let ca = expr("VeloxideLocationCACertificateExpiring");
    assert!(
        ca.contains("veloxide_location_ca_certificate_expiry_timestamp_seconds")
            && ca.contains(&(14 * 86400).to_string()),
        "{ca}"
    );
    assert!(expr("VeloxideBackupFailures").contains("velero_backup_failure_total"));
    assert!(
        expr("VeloxideNoRecentSuccessfulBackup")
            .contains("velero_backup_last_successful_timestamp")
    );
    assert!(expr("VeloxideLocationSkipsTLSVerification").contains("veloxide_location_insecure"));
}

fn check_monitors(objects: &[Value]) {
    let service = one(objects, "Service");
    let deploy = one(objects, "Deployment");
    let selector = &deploy["spec"]["selector"]["matchLabels"];
    if let Some(sm) = objects.iter().find(|o| kind_of(o) == "ServiceMonitor") {
        assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
        assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
        assert_eq!(&sm["spec"]["selector"]["matchLabels"], selector);
        let labels = &service["metadata"]["labels"];
        for (k, v) in selector.as_object().unwrap() {
            assert_eq!(&labels[k], v, "the ServiceMonitor selects the Service");
        }
    }
    if let Some(pm) = objects.iter().find(|o| kind_of(o) == "PodMonitor") {
        assert_eq!(pm["spec"]["podMetricsEndpoints"][0]["port"], "metrics");
        assert_eq!(&pm["spec"]["selector"]["matchLabels"], selector);
        let ports = deploy["spec"]["template"]["spec"]["containers"][0]["ports"].to_string();
        assert!(ports.contains("\"metrics\""), "{ports}");
    }
}

/// Both reference documents' setups, as the chart renders them.
fn check_locations(objects: &[Value]) {
    let bsl = |name: &str| -> &Value {
        objects
            .iter()
            .find(|o| kind_of(o) == "BackupStorageLocation" && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("location {name}"))
    };
    let default = bsl("default");
    assert_eq!(
        default["spec"]["objectStorage"]["caCertRef"],
        json!({"name": "storage-ca-cert", "key": "ca-bundle.crt"})
    );
    assert_eq!(
        default["spec"]["credential"],
        json!({"name": "cloud-credentials", "key": "cloud"})
    );
    assert_eq!(default["spec"]["config"]["s3ForcePathStyle"], "true");
    let kms = bsl("kms");
    assert_eq!(kms["spec"]["config"]["serverSideEncryption"], "aws:kms");
    assert_eq!(kms["spec"]["config"]["kmsKeyId"], "alias/velero-backups");
    let own = bsl("own-ca");
    let secret_name = own["spec"]["objectStorage"]["caCertRef"]["name"]
        .as_str()
        .unwrap();
    assert!(own["spec"]["objectStorage"]["caCert"].is_null());
    let secret = objects
        .iter()
        .find(|o| kind_of(o) == "Secret" && o["metadata"]["name"] == secret_name)
        .expect("the chart stores the location's CA bundle in a Secret");
    let pem = b64(secret["data"]["ca-bundle.crt"].as_str().unwrap());
    assert!(
        String::from_utf8(pem)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
}

/// values.schema.json and the templates refuse bad values, naming what is wrong.
#[test]
fn chart_refuses_bad_values() {
    let cases: &[(&[&str], &str)] = &[
        (&["replicaCount=0"], "replicaCount"),
        (&["replicaCount=two"], "replicaCount"),
        (
            &["nodeAgent.enable=true"],
            "Additional property enable is not allowed",
        ),
        (
            &[
                "nodeAgent.enabled=true",
                "nodeAgent.podVolumePath=var/lib/kubelet/pods",
            ],
            "nodeAgent.podVolumePath",
        ),
        (
            &[
                "nodeAgent.enabled=true",
                "nodeAgent.resources.limits.memory=lots",
            ],
            "nodeAgent.resources.limits.memory",
        ),
        (
            &["unknownKey=1"],
            "Additional property unknownKey is not allowed",
        ),
        (
            &["webhook.certificate.source=self-signed"],
            "webhook.certificate.source",
        ),
        (
            &["webhook.certificate.source=secret"],
            "webhook.certificate.secret.name is required",
        ),
        (
            &[
                "webhook.certificate.source=secret",
                "webhook.certificate.secret.name=tls",
            ],
            "webhook.certificate.secret.caBundle is empty",
        ),
        (
            &["webhook.failurePolicy=Sometimes"],
            "webhook.failurePolicy",
        ),
        (&["webhook.timeoutSeconds=60"], "webhook.timeoutSeconds"),
        (&["resources.requests.cpu=lots"], "resources.requests.cpu"),
        (&["image.pullPolicy=Sometimes"], "image.pullPolicy"),
        (&["image.digest=latest"], "image.digest"),
        (&["rbac.secretsScope=everywhere"], "rbac.secretsScope"),
        (
            &["rbac.backup.coreResources={pods,secrets}"],
            "rbac.backup.coreResources.1",
        ),
        (&["rbac.backup.apiGroups={*}"], "rbac.backup.apiGroups.0"),
        // A subresource would grant it: pods/log reads what containers print.
        (
            &["rbac.backup.coreResources={pods,pods/log}"],
            "rbac.backup.coreResources.1",
        ),
        (
            &["rbac.backup.customResourceGroups={*}"],
            "rbac.backup.customResourceGroups.0",
        ),
        (
            &["rbac.backup.customResourceGroups={widgets}"],
            "rbac.backup.customResourceGroups.0",
        ),
        (
            &["rbac.backup.crdGroupsFromCluster=sometimes"],
            "rbac.backup.crdGroupsFromCluster",
        ),
        (
            &["replicaCount=1"],
            "podDisruptionBudget.minAvailable (1) must be less than replicaCount (1)",
        ),
        (
            &[
                "metrics.serviceMonitor.enabled=true",
                "metrics.podMonitor.enabled=true",
            ],
            "both true",
        ),
        (
            &["metrics.serviceMonitor.interval=soon"],
            "metrics.serviceMonitor.interval",
        ),
        (
            &["metrics.prometheusRule.alerts.caCertificateExpiring.days=0"],
            "metrics.prometheusRule.alerts.caCertificateExpiring.days",
        ),
        (
            &["metrics.prometheusRule.alerts.backupFailures.severity=page"],
            "metrics.prometheusRule.alerts.backupFailures.severity",
        ),
        (&["backupStorageLocations[0].name=a"], "bucket is required"),
        (
            &[
                "backupStorageLocations[0].name=a",
                "backupStorageLocations[0].bucket=b/p",
            ],
            "backupStorageLocations.0.bucket",
        ),
        (
            &[
                "backupStorageLocations[0].name=a",
                "backupStorageLocations[0].bucket=b",
                "backupStorageLocations[0].config.serverSideEncryption=aws:kms",
            ],
            "kmsKeyId is required",
        ),
        (
            &[
                "backupStorageLocations[0].name=a",
                "backupStorageLocations[0].bucket=b",
                "backupStorageLocations[0].config.serverSideEncryption=AES256",
                "backupStorageLocations[0].config.kmsKeyId=alias/k",
            ],
            "backupStorageLocations.0.config",
        ),
        (
            &[
                "backupStorageLocations[0].name=a",
                "backupStorageLocations[0].bucket=b",
                "backupStorageLocations[0].config.kmsKeyID=alias/k",
            ],
            "Additional property kmsKeyID is not allowed",
        ),
        (
            &[
                "backupStorageLocations[0].name=a",
                "backupStorageLocations[0].bucket=b",
                "backupStorageLocations[0].config.serverSideEncryption=aws:kms",
                "backupStorageLocations[0].config.kmsKeyId=alias/k",
                "backupStorageLocations[0].config.customerKeyEncryptionSecret=sse/key",
            ],
            "backupStorageLocations.0.config",
        ),
        (
            &[
                "backupStorageLocations[0].name=a",
                "backupStorageLocations[0].bucket=b",
                "backupStorageLocations[0].caCert=LS0t",
            ],
            "Additional property caCert is not allowed",
        ),
        (
            &[
                "backupStorageLocations[0].name=a",
                "backupStorageLocations[0].bucket=b",
                "backupStorageLocations[0].caCertRef.name=storage-ca-cert",
            ],
            "key is required",
        ),
        (
            &[
                "backupStorageLocations[0].name=a",
                "backupStorageLocations[0].bucket=b",
                "backupStorageLocations[0].caCertRef.name=storage-ca-cert",
                "backupStorageLocations[0].caCertRef.key=ca.crt",
                "backupStorageLocations[0].caBundle=-----BEGIN CERTIFICATE-----",
            ],
            "backupStorageLocations.0",
        ),
        (
            &[
                "backupStorageLocations[0].name=a",
                "backupStorageLocations[0].bucket=b",
                "backupStorageLocations[0].validationFrequency=every minute",
            ],
            "backupStorageLocations.0.validationFrequency",
        ),
        (
            &[
                "backupStorageLocations[0].name=a",
                "backupStorageLocations[0].bucket=b",
                "backupStorageLocations[0].config.insecureSkipTLSVerify=yes",
            ],
            "backupStorageLocations.0.config.insecureSkipTLSVerify",
        ),
        (
            &[
                "backupStorageLocations[0].name=a",
                "backupStorageLocations[0].bucket=b",
                "backupStorageLocations[0].provider=gcp",
            ],
            "backupStorageLocations.0.provider",
        ),
    ];
    let mut failures = vec![];
    for (sets, expected) in cases {
        let mut args = vec![];
        for s in *sets {
            args.push("--set");
            args.push(*s);
        }
        match render(&args) {
            Ok(_) => failures.push(format!("{sets:?} was accepted")),
            Err(e) if !e.contains(expected) => failures.push(format!(
                "{sets:?} refused without naming {expected:?}:\n{e}"
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `veloxide server` with the installed Deployment's arguments, adapted to this machine only
/// where a pod and a local process must differ: `$(VELERO_NAMESPACE)` expanded (the downward API
/// does it in a pod), listen addresses on 127.0.0.1 ports, the mounted certificate's files from
/// `certs` instead of `/certs`. It authenticates with `kubeconfig` (the chart's ServiceAccount's
/// identity) and waits for its webhook's ready line.
fn start_server(
    deployment_args: &[String],
    kubeconfig: &Path,
    webhook_port: u16,
    metrics_port: u16,
    certs: &Path,
) -> Server {
    let mut adapted = vec![];
    let mut listens = 0;
    for arg in deployment_args {
        let arg = arg.replace("$(VELERO_NAMESPACE)", NAMESPACE);
        let arg = if arg.starts_with("--metrics-listen=") {
            listens += 1;
            format!("--metrics-listen=127.0.0.1:{metrics_port}")
        } else if arg.starts_with("--webhook-listen=") {
            listens += 1;
            format!("--webhook-listen=127.0.0.1:{webhook_port}")
        } else if let Some((flag, file)) = arg.split_once("=/certs/") {
            format!("{flag}={}", certs.join(file).display())
        } else {
            arg
        };
        adapted.push(arg);
    }
    assert_eq!(
        listens, 2,
        "the Deployment's listen flags: {deployment_args:?}"
    );
    assert!(
        !adapted
            .iter()
            .any(|a| a.contains("$(") || a.contains("/certs/")),
        "{adapted:?}"
    );
    let (child, _) = e2e::peers::process::spawn_listening(
        Command::new(veloxide_binary())
            .args(&adapted)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", "veloxide-chart-test")
            .env_remove("VELERO_NAMESPACE")
            .stderr(Stdio::inherit()),
        &["veloxide webhook listening on"],
    );
    Server(child)
}

/// A plain HTTP/1.1 GET on 127.0.0.1 (the metrics port is plain HTTP): status and body.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    conn.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// Polls `f` every 100 ms for up to 30 seconds.
fn within_30s<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..300 {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

fn secret_field(s: &Cluster, name: &str, key: &str) -> Vec<u8> {
    let path = format!("jsonpath={{.data.{}}}", key.replace('.', "\\."));
    b64(&ok(kubectl(
        s,
        &["-n", NAMESPACE, "get", "secret", name, "-o", &path],
    )))
}

fn bad_location(name: &str) -> String {
    format!(
        "apiVersion: velero.io/v1\nkind: BackupStorageLocation\nmetadata: {{name: {name}, namespace: {NAMESPACE}}}\n\
         spec:\n  provider: aws\n  objectStorage: {{bucket: velero-backups}}\n  config: {{region: us-east-1, serverSideEncryption: \"aws:kms\"}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_installs_into_a_real_control_plane_and_the_server_it_configures_works() {
    let s = cluster();
    if !s.is_local() {
        eprintln!(
            "skipped against an external cluster: its API server cannot reach the webhook served from this machine (see e2e/README.md)"
        );
        return;
    }
    let helm = helm();
    let scratch = Scratch::new("veloxide-chart-install");
    let port = free_port();
    let chart = chart().display().to_string();
    let locations = ci_values("locations-values.yaml");
    let install = ok(tool(
        s,
        &helm,
        &[
            "install",
            RELEASE,
            &chart,
            "--namespace",
            NAMESPACE,
            "--create-namespace",
            "-f",
            &locations,
        ],
        None,
    ));
    assert!(install.contains("STATUS: deployed"), "{install}");

    let out = ok(kubectl(
        s,
        &[
            "-n",
            NAMESPACE,
            "get",
            "deployment,service,serviceaccount,role,rolebinding,poddisruptionbudget,secret,backupstoragelocation",
            "-o",
            "name",
        ],
    ));
    for expected in [
        "deployment.apps/veloxide",
        "service/veloxide",
        "serviceaccount/veloxide",
        "role.rbac.authorization.k8s.io/veloxide",
        "poddisruptionbudget.policy/veloxide",
        "secret/veloxide-webhook-tls",
        "backupstoragelocation.velero.io/default",
        "backupstoragelocation.velero.io/kms",
    ] {
        assert!(out.contains(expected), "{expected} missing:\n{out}");
    }
    let crd = ok(kubectl(s, &["get", "crd", "-o", "name"]));
    assert!(crd.contains("backupstoragelocations.velero.io"), "{crd}");

    // The server's part, played locally with the Deployment's flags, the certificate the chart
    // made and the chart's ServiceAccount (whose RBAC helm applied).
    let deployment: Value = serde_json::from_str(&ok(kubectl(
        s,
        &["-n", NAMESPACE, "get", "deployment", RELEASE, "-o", "json"],
    )))
    .unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    let deployment_args: Vec<String> =
        serde_json::from_value(pod["containers"][0]["args"].clone()).unwrap();
    let service_account = pod["serviceAccountName"].as_str().unwrap();
    let server_kubeconfig = s
        .kubeconfig_for_service_account(NAMESPACE, service_account)
        .unwrap();
    let (cert, key) = (scratch.0.join("tls.crt"), scratch.0.join("tls.key"));
    let ca = secret_field(s, "veloxide-webhook-tls", "ca.crt");
    let leaf = secret_field(s, "veloxide-webhook-tls", "tls.crt");
    std::fs::write(&cert, &leaf).unwrap();
    std::fs::write(&key, secret_field(s, "veloxide-webhook-tls", "tls.key")).unwrap();
    let bundle = |s: &Cluster| {
        b64(&ok(kubectl(
            s,
            &[
                "get",
                "validatingwebhookconfiguration",
                RELEASE,
                "-o",
                "jsonpath={.webhooks[0].clientConfig.caBundle}",
            ],
        )))
    };
    assert_eq!(bundle(s), ca, "caBundle is the Secret's CA");
    let metrics_port = free_port();
    let _server = start_server(
        &deployment_args,
        &server_kubeconfig,
        port,
        metrics_port,
        &scratch.0,
    );
    // kube-apiserver calls the webhook through the chart's Service's Endpoints and refuses
    // loopback addresses: its `webhook` port leads to a veth address forwarding to the server.
    let client = s.client().await.unwrap();
    let exposed = e2e::netns::Exposed::start(port)
        .await
        .expect("a network namespace for the webhook's route (needs root)");
    e2e::netns::route_service(&client, NAMESPACE, RELEASE, "webhook", &exposed)
        .await
        .unwrap();
    within_30s("/readyz to answer 200", || {
        http_get(metrics_port, "/readyz").filter(|(status, _)| *status == 200)
    });
    let (status, _) = http_get(metrics_port, "/healthz").expect("/healthz answers");
    assert_eq!(status, 200);

    let out = fails(kubectl_stdin(
        s,
        &["apply", "-f", "-"],
        &bad_location("no-key"),
    ));
    assert!(
        out.contains("admission webhook \"bsl.veloxide.velero.io\" denied the request"),
        "{out}"
    );
    assert!(out.contains("kmsKeyId"), "{out}");
    let fixed = bad_location("with-key").replace(
        "serverSideEncryption: \"aws:kms\"",
        "serverSideEncryption: \"aws:kms\", kmsKeyId: alias/velero-backups",
    );
    let out = ok(kubectl_stdin(s, &["apply", "-f", "-"], &fixed));
    assert!(
        out.contains("backupstoragelocation.velero.io/with-key created"),
        "{out}"
    );

    // An upgrade keeps the generated CA and certificate (lookup, not regeneration), and its
    // change to a location passes the webhook.
    let changed = scratch.0.join("upgrade.yaml");
    let upgraded = std::fs::read_to_string(&locations)
        .unwrap()
        .replace("validationFrequency: 5m", "validationFrequency: 10m");
    std::fs::write(&changed, upgraded).unwrap();
    let upgrade = || {
        let values = changed.display().to_string();
        let args = [
            "upgrade",
            RELEASE,
            &chart,
            "--namespace",
            NAMESPACE,
            "-f",
            &values,
        ];
        ok(tool(s, &helm, &args, None))
    };
    let out = upgrade();
    assert!(out.contains("REVISION: 2"), "{out}");
    assert_eq!(bundle(s), ca, "the upgrade kept the CA");
    assert_eq!(
        secret_field(s, "veloxide-webhook-tls", "tls.crt"),
        leaf,
        "the upgrade kept the serving certificate"
    );
    let freq = ok(kubectl(
        s,
        &[
            "-n",
            NAMESPACE,
            "get",
            "bsl",
            "kms",
            "-o",
            "jsonpath={.spec.validationFrequency}",
        ],
    ));
    assert_eq!(freq.trim(), "10m");

    // A serving certificate near its end is re-issued on upgrade from the kept CA.
    ok(kubectl(
        s,
        &[
            "-n",
            NAMESPACE,
            "annotate",
            "--overwrite",
            "secret",
            "veloxide-webhook-tls",
            "veloxide.io/webhook-cert-not-after=1",
        ],
    ));
    let out = upgrade();
    assert!(out.contains("REVISION: 3"), "{out}");
    assert_eq!(bundle(s), ca, "re-issuing kept the CA");
    let renewed = secret_field(s, "veloxide-webhook-tls", "tls.crt");
    assert_ne!(renewed, leaf, "the serving certificate was re-issued");
    verify_leaf(&ca, &renewed, "veloxide.velero.svc");

    // /metrics answers, with a series for a location the chart made (its CA Secret does not exist
    // here, so it is Unavailable: the point is that the server found it).
    let metrics = within_30s("the chart's location in /metrics", || {
        http_get(metrics_port, "/metrics").filter(|(status, body)| {
            *status == 200
                && body.contains(
                    "velero_backup_location_status_gauge{backup_location_name=\"default\"}",
                )
        })
    })
    .1;
    assert!(
        metrics.contains("veloxide_location_validations_total"),
        "{metrics}"
    );

    let out = ok(tool(
        s,
        &helm,
        &["uninstall", RELEASE, "--namespace", NAMESPACE],
        None,
    ));
    assert!(out.contains("uninstalled"), "{out}");
    let out = text(&kubectl(
        s,
        &["get", "validatingwebhookconfiguration", "-o", "name"],
    ));
    assert!(!out.contains(RELEASE), "{out}");
}

/// `nodeAgent.enabled`: the repository password Secret is made once with a random password
/// (Helm's `lookup` reads it back), kept by an upgrade and by `helm uninstall` (the
/// repositories open with nothing else), taken up again by a new install of the release, and
/// a `nodeAgent.repositoryPassword.value` that differs from it fails the upgrade. Its own
/// release and namespace: the cluster is shared with the install test above.
#[test]
fn chart_makes_the_repository_password_once_and_keeps_it() {
    let s = cluster();
    let helm = helm();
    let chart = chart().display().to_string();
    let (release, ns) = ("agent", "fsb-agent");
    let helm_run = |verb: &str, extra: &[&str]| {
        let mut args = vec![verb, release];
        if verb != "uninstall" {
            args.extend([
                chart.as_str(),
                "--skip-crds",
                "--set",
                "nodeAgent.enabled=true",
                "--set",
                "webhook.enabled=false",
                "--set",
                "replicaCount=1",
                "--set",
                "podDisruptionBudget.enabled=false",
            ]);
        }
        args.extend(["--namespace", ns]);
        args.extend(extra);
        tool(s, &helm, &args, None)
    };
    let password = || {
        b64(&ok(kubectl(
            s,
            &[
                "-n",
                ns,
                "get",
                "secret",
                "velero-repo-credentials",
                "-o",
                "jsonpath={.data.repository-password}",
            ],
        )))
    };
    ok(helm_run("install", &["--create-namespace"]));
    let made = password();
    assert_eq!(made.len(), 32);
    assert!(made.iter().all(u8::is_ascii_alphanumeric));
    let daemonsets = ok(kubectl(s, &["-n", ns, "get", "daemonset", "-o", "name"]));
    assert!(
        daemonsets.contains("daemonset.apps/agent-veloxide-node-agent"),
        "{daemonsets}"
    );

    ok(helm_run("upgrade", &[]));
    assert_eq!(password(), made, "an upgrade keeps the password");
    let refused = fails(helm_run(
        "upgrade",
        &["--set", "nodeAgent.repositoryPassword.value=another"],
    ));
    assert!(
        refused.contains("nodeAgent.repositoryPassword.value differs"),
        "{refused}"
    );
    assert_eq!(password(), made);

    ok(helm_run("uninstall", &[]));
    assert_eq!(password(), made, "helm uninstall leaves the password");
    ok(helm_run("install", &[]));
    assert_eq!(password(), made, "a new install takes the kept password up");
    ok(helm_run("uninstall", &[]));
}
