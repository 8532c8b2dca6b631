//! Velero's plugin ConfigMaps, read when a restore starts: found by label in the server's
//! namespace, as Velero's change-storage-class and change-image-name actions find them.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Api;
use kube::api::ListParams;

use super::options::{CHANGE_IMAGE_NAME, CHANGE_STORAGE_CLASS, PluginConfig, plugin_selector};

/// The plugins' configuration in `namespace`. A plugin whose ConfigMap cannot be read, or
/// that has two, fails every item it applies to (its `error`), as in Velero.
pub async fn plugin_config(client: &kube::Client, namespace: &str) -> PluginConfig {
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let mut config = PluginConfig::default();
    match plugin_map(&maps, CHANGE_STORAGE_CLASS).await {
        Ok(map) => config.storage_classes = map,
        Err(e) => config.storage_class_error = Some(e),
    }
    match plugin_map(&maps, CHANGE_IMAGE_NAME).await {
        Ok(map) => config.images = map,
        Err(e) => config.image_error = Some(e),
    }
    let classes: Api<StorageClass> = Api::all(client.clone());
    let mut missing = BTreeSet::new();
    for new in config.storage_classes.values() {
        match classes.get_opt(new).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                missing.insert(new.clone());
            }
            Err(e) => {
                config.storage_class_error =
                    Some(format!("error getting storage class {new} from API: {e}"));
            }
        }
    }
    config.missing_classes = missing;
    config
}

/// The one ConfigMap configuring `plugin` (its data), empty when there is none.
async fn plugin_map(
    maps: &Api<ConfigMap>,
    plugin: &str,
) -> Result<BTreeMap<String, String>, String> {
    let selector = plugin_selector(plugin);
    let list = maps
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| format!("cannot list the {plugin} ConfigMap: {e}"))?;
    match list.items.as_slice() {
        [] => Ok(BTreeMap::new()),
        [one] => Ok(one.data.clone().unwrap_or_default()),
        many => {
            let names: Vec<String> = many
                .iter()
                .filter_map(|m| m.metadata.name.clone())
                .collect();
            Err(format!(
                "found more than one ConfigMap matching label selector {selector:?}: {names:?}; \
                 keep one"
            ))
        }
    }
}
