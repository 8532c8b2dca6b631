//! `veloxide uninstall`: remove what `veloxide install` made, and nothing in any bucket.
//!
//! The order keeps the bucket safe. The Deployment goes first, and nothing else happens until
//! no server holds the controller Lease: a running server would act on deleted Backups and
//! Restores (a Restore's finalizer deletes its files under `restores/<name>/`). Then veloxide's
//! finalizers come off the Backups and Restores, so deleting them (with the namespace, or the
//! CRDs) touches no store, and then the rest of install's objects go. CRDs only with `--crds`.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::cluster::{Cluster, Globals};
use super::install::{MANAGED_BY, api_for, installed_objects};
use super::select::confirmed;
use crate::api::{Backup, Restore};

/// The Lease the server's replicas elect a leader with (`veloxide server --lease-name`).
const LEASE: &str = "veloxide-controller";

#[derive(Args, Debug)]
pub struct UninstallArgs {
    /// Also delete veloxide's CustomResourceDefinitions, and with them every Backup, Restore,
    /// Schedule and location object in every namespace (their files in the buckets stay).
    #[arg(long)]
    crds: bool,
    /// Do not ask for confirmation (needed when standard input is not a terminal).
    #[arg(long, visible_alias = "confirm")]
    force: bool,
    /// How long to wait for the server to stop and the namespace to go.
    #[arg(long, default_value = "2m", value_parser = super::usage::parse_duration)]
    timeout: Duration,
}

impl UninstallArgs {
    pub async fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        let namespace = globals.namespace();
        let mut prompt = format!(
            "You are about to uninstall veloxide from namespace {namespace}: its Deployment, \
             webhook, RBAC, Secrets and Service, the default location, and the namespace (if \
             install made it) with every Backup, Restore and location object in it."
        );
        if self.crds {
            prompt.push_str(
                "\nWith --crds: also veloxide's CustomResourceDefinitions, and with them every \
                 Backup, Restore, Schedule and location object in EVERY namespace.",
            );
        }
        prompt.push_str("\nNothing in any bucket is deleted.");
        if !confirmed(self.force, &prompt)? {
            println!("Nothing was uninstalled.");
            return Ok(ExitCode::FAILURE);
        }
        let cluster = Cluster::connect(globals).await?;
        let deadline = Instant::now() + self.timeout;
        let objects = installed_objects(&namespace)?;

        // 1. Stop the server, and make sure no replica (here or, with --crds, anywhere) leads.
        if let Some(deployment) = objects.iter().find(|o| o["kind"] == "Deployment") {
            delete_object(&cluster.client, deployment).await?;
        }
        wait_no_leader(&cluster, self.crds, deadline).await?;

        // 2. Backups and Restores lose veloxide's finalizers: deleting them touches no store.
        let scope = (!self.crds).then_some(namespace.as_str());
        let freed = drop_finalizers::<Backup>(&cluster.client, scope).await?
            + drop_finalizers::<Restore>(&cluster.client, scope).await?;
        if freed > 0 {
            println!("Removed veloxide's finalizers from {freed} backup(s) and restore(s).");
        }

        // 3. The rest, in the reverse of install's order; the namespace only if install made it,
        //    the CRDs only when asked.
        let mut crds = Vec::new();
        for object in objects.iter().rev() {
            match object["kind"].as_str() {
                Some("Deployment") => {}
                Some("CustomResourceDefinition") => crds.push(object),
                Some("Namespace") => {}
                _ => delete_object(&cluster.client, object).await?,
            }
        }
        let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
        match namespaces.get_opt(&namespace).await? {
            Some(ns) if ns.labels().get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1) => {
                namespaces
                    .delete(&namespace, &DeleteParams::default())
                    .await
                    .with_context(|| format!("cannot delete namespace {namespace}"))?;
                println!("Namespace/{namespace}: deleted");
                if self.crds {
                    // Velero's order: CRDs only once the namespace is gone (its objects first).
                    println!("Waiting for namespace {namespace} to be deleted");
                    wait_gone(&namespaces, &namespace, deadline).await?;
                }
            }
            Some(_) => println!("Namespace/{namespace}: kept (install did not make it)"),
            None => println!("Namespace/{namespace}: not found, skipping"),
        }
        for crd in crds {
            delete_object(&cluster.client, crd).await?;
        }
        println!("veloxide uninstalled. Nothing in any bucket was deleted.");
        Ok(ExitCode::SUCCESS)
    }
}

async fn delete_object(client: &kube::Client, object: &Value) -> anyhow::Result<()> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let api = api_for(client, object)?;
    let params = DeleteParams::foreground();
    match api.delete(name, &params).await {
        Ok(_) => println!("{kind}/{name}: deleted"),
        Err(kube::Error::Api(e)) if e.code == 404 => println!("{kind}/{name}: not found, skipping"),
        Err(e) => bail!("{kind}/{name}: cannot delete: {e}"),
    }
    Ok(())
}

/// A lease someone holds and renewed within its duration.
fn is_held(lease: &Lease, now: jiff::Timestamp) -> Option<String> {
    let spec = lease.spec.as_ref()?;
    let holder = spec.holder_identity.clone().filter(|h| !h.is_empty())?;
    let renewed = spec.renew_time.as_ref()?.0;
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    (renewed.as_second() + duration > now.as_second()).then_some(holder)
}

/// Bounded wait until no server holds the controller Lease (in this namespace, or in any
/// with `everywhere`).
async fn wait_no_leader(
    cluster: &Cluster,
    everywhere: bool,
    deadline: Instant,
) -> anyhow::Result<()> {
    let api: Api<Lease> = if everywhere {
        Api::all(cluster.client.clone())
    } else {
        cluster.api()
    };
    let params = ListParams::default().fields(&format!("metadata.name={LEASE}"));
    let mut said = false;
    loop {
        let leases = api
            .list(&params)
            .await
            .context("cannot read the server's Lease")?;
        let now = jiff::Timestamp::now();
        let holders: Vec<String> = leases
            .items
            .iter()
            .filter_map(|l| {
                is_held(l, now).map(|h| format!("{} in {}", h, l.namespace().unwrap_or_default()))
            })
            .collect();
        if holders.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "a veloxide server still runs (Lease {LEASE} held by {}); stop it and run \
                 uninstall again. Only the Deployment was removed so far.",
                holders.join(", ")
            );
        }
        if !said {
            println!(
                "Waiting for the veloxide server to stop (Lease {LEASE} held by {})",
                holders.join(", ")
            );
            said = true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Remove veloxide's finalizers (and only those) from every object of kind `K`, in `namespace`
/// or everywhere. A merge patch with the resourceVersion read: a concurrent change fails it.
async fn drop_finalizers<K>(client: &kube::Client, namespace: Option<&str>) -> anyhow::Result<usize>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let ours: BTreeSet<&str> = [
        // The data-deleting finalizer older veloxide put on Backups (the server now removes it
        // without deleting anything; uninstall must not leave objects stuck on it).
        crate::controller::backup::LEGACY_FINALIZER,
        crate::controller::restore::FINALIZER,
    ]
    .into();
    let list_api: Api<K> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let items = match list_api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        // No CRD (already uninstalled): nothing to free.
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(0),
        Err(e) => return Err(e).context("cannot list backups and restores"),
    };
    let mut count = 0;
    for item in items {
        let finalizers = item.finalizers();
        if !finalizers.iter().any(|f| ours.contains(f.as_str())) {
            continue;
        }
        let kept: Vec<&String> = finalizers
            .iter()
            .filter(|f| !ours.contains(f.as_str()))
            .collect();
        let api: Api<K> = Api::namespaced(client.clone(), &item.namespace().unwrap_or_default());
        let patch =
            json!({"metadata": {"finalizers": kept, "resourceVersion": item.resource_version()}});
        api.patch(
            &item.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .with_context(|| format!("cannot remove the finalizer of {}", item.name_any()))?;
        count += 1;
    }
    Ok(count)
}

async fn wait_gone(api: &Api<Namespace>, name: &str, deadline: Instant) -> anyhow::Result<()> {
    while api.get_opt(name).await?.is_some() {
        if Instant::now() > deadline {
            bail!(
                "namespace {name} is still being deleted; the CRDs were kept. Run uninstall \
                 --crds again once it is gone (kubectl get namespace {name})"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: Option<&str>, renewed: &str, secs: i32) -> Lease {
        serde_json::from_value(json!({
            "metadata": {"name": LEASE},
            "spec": {"holderIdentity": holder, "renewTime": renewed, "leaseDurationSeconds": secs},
        }))
        .unwrap()
    }

    #[test]
    fn a_lease_is_held_while_renewed_within_its_duration() {
        let now: jiff::Timestamp = "2026-01-01T00:00:10Z".parse().unwrap();
        assert_eq!(
            is_held(&lease(Some("a"), "2026-01-01T00:00:00.000000Z", 15), now),
            Some("a".into())
        );
        assert_eq!(
            is_held(&lease(Some("a"), "2026-01-01T00:00:00.000000Z", 5), now),
            None
        );
        assert_eq!(
            is_held(&lease(None, "2026-01-01T00:00:09.000000Z", 15), now),
            None
        );
    }

    #[test]
    fn uninstall_knows_what_install_makes() {
        let kinds: Vec<String> = installed_objects("velero")
            .unwrap()
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect();
        for k in [
            "Deployment/veloxide",
            "Namespace/velero",
            "Secret/storage-ca-cert",
            "ValidatingWebhookConfiguration/veloxide",
            "BackupStorageLocation/default",
            "DaemonSet/veloxide-node-agent",
            "ClusterRole/veloxide-node-agent",
        ] {
            assert!(kinds.contains(&k.to_owned()), "{k} in {kinds:?}");
        }
        // The repositories' password goes only with the namespace install made.
        assert!(
            !kinds.iter().any(|k| k.contains("velero-repo-credentials")),
            "{kinds:?}"
        );
    }
}
