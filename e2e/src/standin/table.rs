//! Server-side printing (`meta.k8s.io/v1` Table), which `kubectl get` asks for: a CRD's
//! `additionalPrinterColumns`, and a few columns for the built-ins people look at.

use jsonpath_rust::JsonPath;
use serde_json::{Value, json};

use super::resources::ResourceInfo;

/// A column: name, type, format, description, and how to fill a cell.
struct Column {
    name: String,
    ty: String,
    format: String,
    priority: i64,
    cell: Cell,
}

enum Cell {
    Name,
    Age,
    Path(String, bool),
    Count(&'static [&'static str]),
    Ready,
}

fn col(name: &str, ty: &str, cell: Cell) -> Column {
    let format = if name == "Name" { "name" } else { "" };
    Column {
        name: name.into(),
        ty: ty.into(),
        format: format.into(),
        priority: 0,
        cell,
    }
}

fn columns(info: &ResourceInfo, version: &str) -> Vec<Column> {
    let mut cols = vec![col("Name", "string", Cell::Name)];
    if !info.builtin {
        let custom = info
            .version(version)
            .map(|v| v.columns.clone())
            .unwrap_or_default();
        if custom.is_empty() {
            cols.push(col("Age", "date", Cell::Age));
        }
        for c in custom {
            let ty = c["type"].as_str().unwrap_or("string").to_string();
            let path = c["jsonPath"].as_str().unwrap_or_default().to_string();
            cols.push(Column {
                name: c["name"].as_str().unwrap_or_default().into(),
                format: c["format"].as_str().unwrap_or_default().into(),
                priority: c["priority"].as_i64().unwrap_or(0),
                cell: Cell::Path(path, ty == "date"),
                ty,
            });
        }
        return cols;
    }
    let path = |p: &str| Cell::Path(p.into(), false);
    match (info.group.as_str(), info.kind.as_str()) {
        ("", "Namespace") => cols.push(col("Status", "string", path(".status.phase"))),
        ("", "Secret") => {
            cols.push(col("Type", "string", path(".type")));
            cols.push(col("Data", "string", Cell::Count(&["data"])));
        }
        ("", "ConfigMap") => cols.push(col("Data", "string", Cell::Count(&["data", "binaryData"]))),
        ("", "Service") => {
            cols.push(col("Type", "string", path(".spec.type")));
            cols.push(col("Cluster-IP", "string", path(".spec.clusterIP")));
        }
        ("apps", "Deployment") => {
            cols.push(col("Ready", "string", Cell::Ready));
            cols.push(col("Up-to-date", "string", path(".status.updatedReplicas")));
            cols.push(col(
                "Available",
                "string",
                path(".status.availableReplicas"),
            ));
        }
        ("apiextensions.k8s.io", _) => {
            cols.push(col(
                "Created At",
                "date",
                Cell::Path(".metadata.creationTimestamp".into(), false),
            ));
            return cols;
        }
        _ => {}
    }
    cols.push(col("Age", "date", Cell::Age));
    cols
}

/// Go's `duration.HumanDuration`, which the real server uses for ages.
pub fn human_duration(secs: i64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    match secs {
        s if s < 0 => "<invalid>".into(),
        s if s < 120 => format!("{s}s"),
        _ if m < 10 && secs % 60 != 0 => format!("{m}m{}s", secs % 60),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 && m % 60 != 0 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if h < 24 * 8 && h % 24 != 0 => format!("{d}d{}h", h % 24),
        _ if d < 365 * 2 => format!("{d}d"),
        _ => format!("{}y", d / 365),
    }
}

fn age(ts: &str) -> Value {
    match ts.parse::<jiff::Timestamp>() {
        Ok(t) => json!(human_duration(
            jiff::Timestamp::now().as_second() - t.as_second()
        )),
        Err(_) => json!("<unknown>"),
    }
}

fn cell(c: &Column, o: &Value) -> Value {
    match &c.cell {
        Cell::Name => o["metadata"]["name"].clone(),
        Cell::Age => age(o["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap_or_default()),
        Cell::Count(fields) => json!(
            fields
                .iter()
                .map(|f| o[*f].as_object().map_or(0, |m| m.len()))
                .sum::<usize>()
        ),
        Cell::Ready => json!(format!(
            "{}/{}",
            o["status"]["readyReplicas"].as_i64().unwrap_or(0),
            o["spec"]["replicas"].as_i64().unwrap_or(1)
        )),
        Cell::Path(p, is_date) => {
            let found = o
                .query(&format!("${p}"))
                .ok()
                .and_then(|v| v.first().map(|x| (*x).clone()));
            match found {
                None | Some(Value::Null) => Value::Null,
                Some(Value::String(s)) if *is_date => age(&s),
                Some(v) if c.ty == "string" && !v.is_string() => json!(v.to_string()),
                Some(v) => v,
            }
        }
    }
}

/// A Table of `objects`, with `includeObject` (None, Metadata (default) or Object).
pub fn table(
    info: &ResourceInfo,
    version: &str,
    objects: &[Value],
    list_meta: Value,
    include: Option<&str>,
) -> Value {
    let cols = columns(info, version);
    let defs: Vec<Value> = cols
        .iter()
        .map(|c| json!({"name": c.name, "type": c.ty, "format": c.format, "description": "", "priority": c.priority}))
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let object = match include.unwrap_or("Metadata") {
                "None" => Value::Null,
                "Object" => o.clone(),
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}),
            };
            json!({"cells": cols.iter().map(|c| cell(c, o)).collect::<Vec<_>>(), "object": object})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::super::{crd, resources::Registry};
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(3600 * 5), "5h");
        assert_eq!(human_duration(86400 * 3), "3d");
    }

    #[test]
    fn crd_printer_columns() {
        let c = json!({"metadata": {"name": "bsls.velero.io"}, "spec": {"group": "velero.io", "scope": "Namespaced",
            "names": {"plural": "backupstoragelocations", "kind": "BackupStorageLocation"},
            "versions": [{"name": "v1", "served": true, "storage": true, "additionalPrinterColumns": [
                {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                {"name": "Default", "type": "boolean", "jsonPath": ".spec.default"}]}]}});
        let info = crd::resource_info(&c);
        let o = json!({"metadata": {"name": "default"}, "spec": {"default": true}, "status": {"phase": "Available"}});
        let t = table(&info, "v1", &[o], json!({}), None);
        assert_eq!(t["rows"][0]["cells"], json!(["default", "Available", true]));
        let reg = Registry::with_builtins();
        let s = json!({"metadata": {"name": "s", "creationTimestamp": "2020-01-01T00:00:00Z"}, "type": "Opaque", "data": {"a": "", "b": ""}});
        let t = table(
            reg.find("", "v1", "secrets").unwrap(),
            "v1",
            &[s],
            json!({}),
            None,
        );
        assert_eq!(t["rows"][0]["cells"][2], 2);
    }
}
