//! The committed CRDs are exactly what the code generates.

use std::path::Path;

#[test]
fn committed_crds_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut expected_files = Vec::new();
    for crd in veloxide::crds::all() {
        let name = veloxide::crds::file_name(&crd);
        let path = dir.join(&name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == veloxide::crds::to_yaml(&crd),
            "{} is missing or stale; run `make crds` and commit the result",
            path.display()
        );
        expected_files.push(name);
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    present.sort();
    expected_files.sort();
    assert_eq!(
        present, expected_files,
        "crds/ holds files the code no longer generates"
    );
}

#[test]
fn crds_command_prints_every_crd() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .arg("crds")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let documents: Vec<serde_json::Value> = text
        .split("\n---\n")
        .map(|d| serde_norway::from_str(d.trim_start_matches("---\n")).unwrap())
        .collect();
    assert_eq!(documents.len(), veloxide::crds::all().len());
    for (document, crd) in documents.iter().zip(veloxide::crds::all()) {
        assert_eq!(document, &serde_json::to_value(&crd).unwrap());
    }
}
