//! `ServerStatusRequest`: what `velero version` and `velero plugin get` create and wait on.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A request for the server's version and plugins; the spec is empty, as Velero's.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "ServerStatusRequest",
    doc = "A request for the server's version and plugins (what `velero version` and `velero plugin get` ask); answered, then deleted a minute later.",
    namespaced,
    shortname = "ssr",
    status = "ServerStatusRequestStatus",
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.phase",
        description = "New or Processed"
    )
)]
pub struct ServerStatusRequestSpec {}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ServerStatusRequestPhase {
    New,
    Processed,
}

/// What the server answers (Velero's fields).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatusRequestStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ServerStatusRequestPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub processed_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub plugins: Option<Vec<PluginInfo>>,
}

/// One plugin as `velero plugin get` lists it: its name and kind (`ObjectStore`, ...).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct PluginInfo {
    pub name: String,
    pub kind: String,
}
