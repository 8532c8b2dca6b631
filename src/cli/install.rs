//! `veloxide install`: what `velero install` does for Velero, for veloxide. Every input is
//! checked before anything is sent (the location by the same parser the webhook uses, the
//! CA bundle by the same inspection), then the objects are applied with server-side apply in
//! dependency order, or printed with `--dry-run`.

mod certs;
mod crd_groups;
mod manifests;
// The e2e crate includes this file too and uses what install does not (client certificates,
// IP names); `dead_code` would otherwise flag those here.
#[allow(dead_code)]
mod mint;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::{conditions, wait::await_condition};
use serde_json::{Value, json};

use super::UsageError;
use crate::api::BackupStorageLocation;
use crate::location::{self, LocationConfig};
use manifests::{
    CA_KEY, CA_SECRET, CREDENTIALS_KEY, CREDENTIALS_SECRET, Hooks, NAME, Plan, RestoreGuards,
};

/// The one field manager every object is applied with.
pub const FIELD_MANAGER: &str = "veloxide-install";
const DEFAULT_IMAGE: &str = concat!("ghcr.io/veloxide/veloxide:", env!("CARGO_PKG_VERSION"));

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// The object-store provider: `aws` (any S3-compatible store).
    #[arg(long)]
    provider: String,
    /// The bucket backups are written to.
    #[arg(long)]
    bucket: String,
    /// A path inside the bucket to write under.
    #[arg(long)]
    prefix: Option<String>,
    /// The location's `config` (`region=us-east-1,s3Url=https://...,kmsKeyId=alias/k`).
    #[arg(
        long = "backup-location-config",
        visible_alias = "config",
        value_delimiter = ','
    )]
    config: Vec<String>,
    /// Credentials in the AWS shared-credentials format, stored in the Secret
    /// `cloud-credentials` (key `cloud`) that the location names.
    #[arg(long)]
    secret_file: PathBuf,
    /// A PEM bundle to trust for the store.
    #[arg(
        long,
        long_help = "A PEM bundle to trust for the store. It is stored in the Secret \
                     storage-ca-cert (key ca-bundle.crt) and the location points at it with \
                     objectStorage.caCertRef, the recommended way: rotate the CA by updating the \
                     Secret. (Velero's install inlines the bundle as objectStorage.caCert \
                     instead, which veloxide accepts but warns about.)"
    )]
    cacert: Option<PathBuf>,
    /// The server's image.
    #[arg(long, default_value = DEFAULT_IMAGE)]
    image: String,
    /// Run backup and restore hooks (docs/hooks.md): the server gets `--hooks-enabled` and the
    /// right to exec into pods (`pods/exec` create and get) where --hooks-namespaces or
    /// --hooks-cluster-wide says, the chart's `hooks.enabled`. Off, a Backup or Restore with
    /// exec hooks fails validation.
    #[arg(long)]
    hooks_enabled: bool,
    /// The namespaces hooks may exec in (a Role and RoleBinding in each; they must exist), the
    /// chart's `hooks.namespaces`.
    #[arg(long, value_delimiter = ',', requires = "hooks_enabled")]
    hooks_namespaces: Vec<String>,
    /// Let hooks exec in every namespace (a ClusterRole), the chart's `hooks.clusterWide`.
    #[arg(long, requires = "hooks_enabled", conflicts_with = "hooks_namespaces")]
    hooks_cluster_wide: bool,
    /// Let restores create ClusterRoles that carry a built-in `aggregate-to-*` label (refused by
    /// default: aggregation would hand their rules to admin, edit or view), the chart's
    /// `rbac.restore.aggregatedClusterRoles`.
    #[arg(long)]
    restore_aggregated_cluster_roles: bool,
    /// Let restores create Namespaces whose pod security labels loosen admission (refused by
    /// default), the chart's `rbac.restore.podSecurityLabels`.
    #[arg(long)]
    restore_pod_security_labels: bool,
    /// Run the node agent for file-system backup (Velero's flag): its DaemonSet and its own
    /// least-privilege identity, the chart's `nodeAgent.enabled`. The repository password
    /// Secret `velero-repo-credentials` is made with 32 random letters and digits when it does
    /// not exist, and left as it is when it does (with --dry-run it is printed with a new
    /// password: do not apply that over an existing one).
    #[arg(long)]
    use_node_agent: bool,
    /// Print the objects instead of applying them (secret material included, in the Secrets).
    #[arg(long)]
    dry_run: bool,
    /// The format of --dry-run's output.
    #[arg(short = 'o', long, value_enum, requires = "dry_run")]
    output: Option<Format>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Yaml,
    Json,
}

impl InstallArgs {
    pub async fn run(self, globals: &super::Globals) -> anyhow::Result<ExitCode> {
        let namespace = globals.namespace();
        let hooks = self.hooks()?;
        let (location, credentials, ca_bundle) = self.checked_inputs(&namespace)?;
        let names = certs::dns_names(NAME, &namespace);
        let mut plan = Plan {
            namespace: namespace.clone(),
            image: self.image.clone(),
            credentials,
            ca_bundle,
            location,
            webhook: certs::generate(&names).context("cannot make the webhook's certificate")?,
            hooks,
            crd_groups: Vec::new(),
            restore_guards: RestoreGuards {
                aggregated_cluster_roles: self.restore_aggregated_cluster_roles,
                pod_security_labels: self.restore_pod_security_labels,
            },
            node_agent: None,
        };
        if self.dry_run {
            if self.use_node_agent {
                plan.node_agent = Some(manifests::NodeAgent {
                    password: Some(manifests::random_password()?),
                });
                eprintln!(
                    "Warning: the printed Secret {} holds a new random password; applying it over \
                     an existing one leaves every file-system backup made with the old one unreadable",
                    crate::repository::SECRET_NAME
                );
            }
            print!("{}", render(&manifests::objects(&plan), self.output)?);
            return Ok(ExitCode::SUCCESS);
        }
        let client = super::Cluster::connect(globals).await?.client;
        plan.crd_groups = crd_groups::from_cluster(&client).await?;
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
        if self.use_node_agent {
            // An existing password stays: the repositories made with it open with no other.
            let existing = secrets.get_opt(crate::repository::SECRET_NAME).await?;
            plan.node_agent = Some(manifests::NodeAgent {
                password: match existing {
                    Some(_) => None,
                    None => Some(manifests::random_password()?),
                },
            });
        }
        if let Some(existing) = secrets.get_opt(manifests::WEBHOOK_SECRET).await? {
            let data: BTreeMap<String, Vec<u8>> = existing
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            plan.webhook = certs::reuse_or_generate(Some(&data), &names)
                .context("cannot make the webhook's certificate")?;
        }
        apply(&client, &manifests::objects(&plan)).await?;
        println!(
            "veloxide is installed! Use 'kubectl logs deployment/{NAME} -n {}' to view the status.",
            namespace
        );
        Ok(ExitCode::SUCCESS)
    }

    /// Where hooks may exec; refused, as the chart refuses it, when they are enabled with
    /// nowhere to run.
    fn hooks(&self) -> Result<Hooks, UsageError> {
        hooks_from(
            self.hooks_enabled,
            &self.hooks_namespaces,
            self.hooks_cluster_wide,
        )
    }

    /// Read and check every input; nothing is sent anywhere before this passes.
    fn checked_inputs(
        &self,
        namespace: &str,
    ) -> anyhow::Result<(BackupStorageLocation, Vec<u8>, Option<Vec<u8>>)> {
        let credentials = read("--secret-file", &self.secret_file)?;
        check_credentials(&self.secret_file, &credentials)?;
        let ca_bundle = match &self.cacert {
            None => None,
            Some(path) => {
                let bytes = read("--cacert", path)?;
                let inspected = location::inspect_pem("--cacert", &bytes, jiff::Timestamp::now())
                    .map_err(|m| anyhow::anyhow!("--cacert {}: {m}", path.display()))?;
                for w in inspected.warnings {
                    eprintln!("Warning: {w}");
                }
                Some(bytes)
            }
        };
        let config = parse_config(&self.config)?;
        let location: BackupStorageLocation = serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": manifests::LOCATION, "namespace": namespace},
            "spec": {
                "provider": self.provider,
                "default": true,
                "objectStorage": {
                    "bucket": self.bucket,
                    "prefix": self.prefix.as_deref().filter(|p| !p.is_empty()),
                    "caCertRef": ca_bundle.as_ref().map(|_| json!({"name": CA_SECRET, "key": CA_KEY})),
                },
                "credential": {"name": CREDENTIALS_SECRET, "key": CREDENTIALS_KEY},
                "config": (!config.is_empty()).then_some(config),
            },
        }))?;
        match LocationConfig::from_spec(&location.spec) {
            Ok(parsed) => {
                for w in parsed.warnings {
                    eprintln!("Warning: {w}");
                }
            }
            Err(rejected) => {
                bail!("the backup location would be refused, so nothing was installed: {rejected}")
            }
        }
        Ok((location, credentials, ca_bundle))
    }
}

fn hooks_from(
    enabled: bool,
    namespaces: &[String],
    cluster_wide: bool,
) -> Result<Hooks, UsageError> {
    let namespaces: Vec<String> = namespaces
        .iter()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    match (enabled, cluster_wide, namespaces.is_empty()) {
        (false, _, _) => Ok(Hooks::Off),
        (true, true, _) => Ok(Hooks::ClusterWide),
        (true, false, false) => Ok(Hooks::Namespaces(namespaces)),
        (true, false, true) => Err(UsageError(
            "--hooks-enabled needs the namespaces hooks may exec in (--hooks-namespaces=ns1,ns2) \
             or --hooks-cluster-wide"
                .into(),
        )),
    }
}

fn read(flag: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {flag} {}", path.display()))
}

/// A light check that the file is in the shared-credentials format; the content is never
/// echoed, not even in part.
fn check_credentials(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let text = std::str::from_utf8(bytes).ok();
    let has_profile = text.is_some_and(|t| {
        t.lines().any(|l| {
            let l = l.trim();
            l.starts_with('[') && l.ends_with(']') && l.len() > 2
        })
    });
    if !has_profile {
        bail!(
            "--secret-file {}: is not in the AWS shared-credentials format (a [default] line \
             followed by aws_access_key_id=... and aws_secret_access_key=...)",
            path.display()
        );
    }
    Ok(())
}

/// `k=v,k2=v2` (Velero's `--backup-location-config`); values may hold `=` (tagging).
fn parse_config(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
            _ => {
                Err(UsageError(format!("--backup-location-config: {p:?} is not KEY=VALUE")).into())
            }
        })
        .collect()
}

fn render(objects: &[Value], format: Option<Format>) -> anyhow::Result<String> {
    Ok(match format.unwrap_or(Format::Yaml) {
        Format::Yaml => {
            let mut out = String::new();
            for o in objects {
                out.push_str("---\n");
                out.push_str(&serde_norway::to_string(o)?);
            }
            out
        }
        Format::Json => {
            let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
            format!("{}\n", serde_json::to_string_pretty(&list)?)
        }
    })
}

/// Every object `veloxide install` makes in `namespace` (with the optional CA Secret), in the
/// order it applies them: the same list the install uses, built from placeholder inputs, so
/// uninstall removes exactly what install makes.
pub(super) fn installed_objects(namespace: &str) -> anyhow::Result<Vec<Value>> {
    let location: BackupStorageLocation = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
        "metadata": {"name": manifests::LOCATION, "namespace": namespace},
        "spec": {"provider": "aws", "objectStorage": {"bucket": "placeholder"}},
    }))?;
    let plan = Plan {
        namespace: namespace.to_owned(),
        image: DEFAULT_IMAGE.to_owned(),
        credentials: Vec::new(),
        ca_bundle: Some(Vec::new()),
        location,
        webhook: certs::generate(&certs::dns_names(NAME, namespace))?,
        // Uninstall removes the cluster-wide hooks objects too (absent ones are skipped); a
        // namespace's hooks Role goes with `kubectl delete role veloxide-hooks -n NS`.
        hooks: Hooks::ClusterWide,
        // Names only: the groups the backup role reads change none.
        crd_groups: Vec::new(),
        restore_guards: RestoreGuards::default(),
        // The agent's objects go too; the repository password Secret is not listed (it goes
        // only with the namespace, when install made it).
        node_agent: Some(manifests::NodeAgent { password: None }),
    };
    Ok(manifests::objects(&plan))
}

/// The dynamic API for an object install makes.
pub(super) fn api_for(client: &kube::Client, object: &Value) -> anyhow::Result<Api<DynamicObject>> {
    let (resource, namespaced) = resource_of(object)?;
    Ok(match object["metadata"]["namespace"].as_str() {
        Some(ns) if namespaced => Api::namespaced_with(client.clone(), ns, &resource),
        _ => Api::all_with(client.clone(), &resource),
    })
}

/// The label install puts on everything it makes.
pub(super) const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "veloxide-install");

/// The API resource of each kind install makes, and whether it is namespaced.
fn resource_of(object: &Value) -> anyhow::Result<(ApiResource, bool)> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let (plural, namespaced) = match kind {
        "Namespace" => ("namespaces", false),
        "CustomResourceDefinition" => ("customresourcedefinitions", false),
        "ClusterRole" => ("clusterroles", false),
        "ClusterRoleBinding" => ("clusterrolebindings", false),
        "ValidatingWebhookConfiguration" => ("validatingwebhookconfigurations", false),
        "ServiceAccount" => ("serviceaccounts", true),
        "Role" => ("roles", true),
        "RoleBinding" => ("rolebindings", true),
        "Secret" => ("secrets", true),
        "Service" => ("services", true),
        "Deployment" => ("deployments", true),
        "DaemonSet" => ("daemonsets", true),
        "BackupStorageLocation" => ("backupstoragelocations", true),
        other => bail!("install does not know the kind {other}"),
    };
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let resource = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    Ok((resource, namespaced))
}

/// Server-side apply each object in order; wait for the CRDs to be Established before
/// anything that follows them.
async fn apply(client: &kube::Client, objects: &[Value]) -> anyhow::Result<()> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut pending_crds = Vec::new();
    for object in objects {
        let kind = object["kind"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        if kind != "CustomResourceDefinition" && !pending_crds.is_empty() {
            wait_established(client, &pending_crds).await?;
            pending_crds.clear();
        }
        let (resource, namespaced) = resource_of(object)?;
        let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
            Some(ns) if namespaced => Api::namespaced_with(client.clone(), ns, &resource),
            _ => Api::all_with(client.clone(), &resource),
        };
        match api.patch(name, &params, &Patch::Apply(object)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.message.contains("failed calling webhook") => bail!(
                "{kind}/{name}: cannot apply: {}\n(the webhook installed earlier checks \
                 locations: is the server running? kubectl -n {} rollout status deployment/{NAME})",
                s.message,
                object["metadata"]["namespace"].as_str().unwrap_or_default()
            ),
            Err(kube::Error::Api(s)) => bail!("{kind}/{name}: cannot apply: {}", s.message),
            Err(e) => bail!("{kind}/{name}: cannot apply: {e}"),
        }
        println!("{kind}/{name}: applied");
        if kind == "CustomResourceDefinition" {
            pending_crds.push(name.to_owned());
        }
    }
    Ok(())
}

async fn wait_established(client: &kube::Client, names: &[String]) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in names {
        let established = await_condition(api.clone(), name, conditions::is_crd_established());
        tokio::time::timeout(Duration::from_secs(60), established)
            .await
            .with_context(|| format!("CustomResourceDefinition/{name} not Established in 60s"))?
            .with_context(|| format!("waiting for CustomResourceDefinition/{name}"))?;
    }
    println!("CustomResourceDefinitions: Established");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_pairs_keep_equals_in_values() {
        let got = parse_config(&["region=us-east-1".into(), "tagging=a=1&b=2".into()]).unwrap();
        assert_eq!(got["tagging"], "a=1&b=2");
        assert!(parse_config(&["novalue".into()]).is_err());
    }

    #[test]
    fn credentials_are_checked_without_echoing_them() {
        let path = Path::new("creds");
        assert!(check_credentials(path, b"[default]\naws_access_key_id=x\n").is_ok());
        let e = check_credentials(path, b"aws_secret_access_key=TOPSECRET").unwrap_err();
        assert!(!e.to_string().contains("TOPSECRET"), "{e}");
    }

    #[test]
    fn hooks_flags_as_the_chart_values() {
        let ns = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(hooks_from(false, &[], false).unwrap(), Hooks::Off);
        assert_eq!(hooks_from(true, &[], true).unwrap(), Hooks::ClusterWide);
        assert_eq!(
            hooks_from(true, &ns(&["app", " db", ""]), false).unwrap(),
            Hooks::Namespaces(ns(&["app", "db"]))
        );
        let refused = hooks_from(true, &ns(&[""]), false).unwrap_err();
        assert!(refused.0.contains("--hooks-namespaces"), "{}", refused.0);
    }

    /// Install (and uninstall, through the same list) can reach every kind it makes.
    #[test]
    fn every_object_install_makes_has_its_resource() {
        for object in installed_objects("velero").unwrap() {
            let (resource, namespaced) = resource_of(&object).unwrap();
            assert_eq!(
                namespaced,
                object["metadata"]["namespace"].is_string(),
                "{object}"
            );
            assert_eq!(resource.api_version, object["apiVersion"].as_str().unwrap());
        }
    }

    #[test]
    fn json_output_is_a_list() {
        let objects = vec![json!({"kind": "Namespace"})];
        let v: Value =
            serde_json::from_str(&render(&objects, Some(Format::Json)).unwrap()).unwrap();
        assert_eq!(v["kind"], "List");
        assert_eq!(render(&objects, None).unwrap(), "---\nkind: Namespace\n");
    }
}
