//! Helm against a real control plane (one per test binary, each test in its own namespace; or
//! VELOXIDE_E2E_KUBECONFIG's cluster): install, upgrade and uninstall of a small chart, and of the
//! project's chart. Helm comes from `bash e2e/tools/install-helm.sh` (which `make test`
//! runs first) at `.work/bin/helm`, or from `$HELM`; a missing helm fails the test.

mod common;

use std::path::PathBuf;

use common::{cluster, kubectl, ok, repo, text, tool};

fn helm() -> PathBuf {
    let path = std::env::var_os("HELM")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".work/bin/helm"));
    assert!(
        path.is_file(),
        "helm not found at {}: run `bash e2e/tools/install-helm.sh` (make test does) or set HELM",
        path.display()
    );
    path
}

fn chart(name: &str) -> String {
    repo()
        .join("e2e/testdata/charts")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn helm_installs_upgrades_and_uninstalls_a_chart() {
    let helm = helm();
    let s = cluster();
    let ns = format!("helm-{}", e2e::random_hex(3));
    let out = ok(tool(
        s,
        &helm,
        &[
            "install",
            "smoke",
            &chart("smoke"),
            "-n",
            &ns,
            "--create-namespace",
        ],
        None,
    ));
    assert!(out.contains("STATUS: deployed"), "{out}");
    let out = ok(kubectl(
        s,
        &[
            "get",
            "deployment,configmap,secret,serviceaccount,service,role,rolebinding",
            "-n",
            &ns,
            "-o",
            "name",
        ],
    ));
    for want in [
        "deployment.apps/smoke",
        "configmap/smoke-config",
        "secret/smoke-secret",
        "secret/sh.helm.release.v1.smoke.v1",
    ] {
        assert!(out.contains(want), "{want} missing from:\n{out}");
    }

    let out = ok(tool(
        s,
        &helm,
        &[
            "upgrade",
            "smoke",
            &chart("smoke"),
            "-n",
            &ns,
            "--set",
            "replicas=2,greeting=hi",
        ],
        None,
    ));
    assert!(out.contains("has been upgraded"), "{out}");
    let out = ok(kubectl(
        s,
        &[
            "get",
            "deployment",
            "smoke",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.replicas} {.metadata.generation}",
        ],
    ));
    assert_eq!(
        out.trim(),
        "2 2",
        "the upgrade patched the deployment's spec"
    );
    let out = ok(tool(s, &helm, &["list", "-n", &ns], None));
    assert!(
        out.contains("deployed") && out.contains("smoke-0.1.0"),
        "{out}"
    );

    let out = ok(tool(s, &helm, &["uninstall", "smoke", "-n", &ns], None));
    assert!(out.contains("release \"smoke\" uninstalled"), "{out}");
    let left = kubectl(
        s,
        &[
            "get",
            "deployment,configmap,secret,service",
            "-n",
            &ns,
            "-o",
            "name",
        ],
    );
    // A real cluster puts the ConfigMap `kube-root-ca.crt` in every namespace (its
    // root-ca-cert-publisher); everything else must be gone.
    let left: Vec<String> = text(&left)
        .lines()
        .filter(|l| *l != "configmap/kube-root-ca.crt" && !l.contains("No resources found"))
        .map(str::to_owned)
        .collect();
    assert!(left.is_empty(), "left after uninstall: {left:?}");
    ok(kubectl(s, &["delete", "namespace", &ns]));
}

#[test]
fn helm_installs_the_project_chart_when_present() {
    let dir = repo().join("charts/veloxide");
    if !dir.join("Chart.yaml").is_file() {
        eprintln!("charts/veloxide does not exist yet; nothing to install");
        return;
    }
    let helm = helm();
    let s = cluster();
    let out = ok(tool(
        s,
        &helm,
        &[
            "install",
            "veloxide",
            &dir.display().to_string(),
            "-n",
            "velero",
            "--create-namespace",
        ],
        None,
    ));
    assert!(out.contains("STATUS: deployed"), "{out}");
    ok(tool(
        s,
        &helm,
        &["uninstall", "veloxide", "-n", "velero"],
        None,
    ));
}
