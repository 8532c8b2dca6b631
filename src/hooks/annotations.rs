//! Velero's hook annotations on a pod, read as Velero reads them (`internal/hook/
//! item_hook_handler.go`): a hook exists when its `command` annotation does; a bad timeout or
//! on-error value falls back to the default with a warning, as Velero logs one.

use std::collections::BTreeMap;
use std::time::Duration;

use super::rules::{DEFAULT_TIMEOUT, Exec, FROM_ANNOTATION, HookSource};
use crate::api::{GoDuration, HookErrorMode};

/// A backup hook's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Pre,
    Post,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pre => "pre",
            Phase::Post => "post",
        }
    }
}

/// Every backup hook annotation key's suffix after `<phase>.` (Velero also reads the pre
/// hook from the unprefixed `hook.backup.velero.io/...`).
const BACKUP: &str = "hook.backup.velero.io/";

/// The restore exec hook annotations.
pub const RESTORE_EXEC: &str = "post.hook.restore.velero.io/";
/// The restore init-container hook annotations.
pub const RESTORE_INIT: &str = "init.hook.restore.velero.io/";

/// The backup exec hook a pod's annotations give for `phase`, and warnings about values
/// that were ignored. For `pre`, the unprefixed keys count when no `pre.` command is set.
pub fn backup_hook(
    annotations: &BTreeMap<String, String>,
    phase: Phase,
) -> (Option<Exec>, Vec<String>) {
    let prefixed = format!("{}.{BACKUP}", phase.as_str());
    let prefix = match (annotations.get(&format!("{prefixed}command")), phase) {
        (Some(c), _) if !c.is_empty() => prefixed,
        (_, Phase::Pre)
            if annotations
                .get(&format!("{BACKUP}command"))
                .is_some_and(|c| !c.is_empty()) =>
        {
            BACKUP.to_owned()
        }
        _ => return (None, Vec::new()),
    };
    let get = |key: &str| {
        annotations
            .get(&format!("{prefix}{key}"))
            .map(String::as_str)
            .unwrap_or("")
    };
    let mut warnings = Vec::new();
    let timeout = duration(&format!("{prefix}timeout"), get("timeout"), &mut warnings)
        .unwrap_or(DEFAULT_TIMEOUT);
    let hook = Exec {
        name: FROM_ANNOTATION.to_owned(),
        source: HookSource::Annotation,
        container: Some(get("container").to_owned()).filter(|c| !c.is_empty()),
        command: parse_command(get("command")),
        on_error: on_error(get("on-error")),
        timeout,
    };
    (Some(hook), warnings)
}

/// A restore exec hook from `post.hook.restore.velero.io/...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreExecAnnotation {
    pub exec: Exec,
    /// Zero: wait as long as the restore allows.
    pub wait_timeout: Duration,
    pub wait_for_ready: bool,
}

/// The restore exec hook a pod's annotations give, and warnings about ignored values.
pub fn restore_exec_hook(
    annotations: &BTreeMap<String, String>,
) -> (Option<RestoreExecAnnotation>, Vec<String>) {
    let get = |key: &str| {
        annotations
            .get(&format!("{RESTORE_EXEC}{key}"))
            .map(String::as_str)
            .unwrap_or("")
    };
    if get("command").is_empty() {
        return (None, Vec::new());
    }
    let mut warnings = Vec::new();
    let exec_timeout = duration(
        &format!("{RESTORE_EXEC}exec-timeout"),
        get("exec-timeout"),
        &mut warnings,
    )
    .unwrap_or(DEFAULT_TIMEOUT);
    let wait_timeout = duration(
        &format!("{RESTORE_EXEC}wait-timeout"),
        get("wait-timeout"),
        &mut warnings,
    )
    .unwrap_or(Duration::ZERO);
    let wait_for_ready = match get("wait-for-ready") {
        "" => false,
        v => parse_bool(v).unwrap_or_else(|| {
            warnings.push(format!(
                "annotation {RESTORE_EXEC}wait-for-ready: {v:?} is not a boolean; using false"
            ));
            false
        }),
    };
    let exec = Exec {
        name: FROM_ANNOTATION.to_owned(),
        source: HookSource::Annotation,
        container: Some(get("container").to_owned()).filter(|c| !c.is_empty()),
        command: parse_command(get("command")),
        on_error: on_error(get("on-error")),
        timeout: exec_timeout,
    };
    let hook = RestoreExecAnnotation {
        exec,
        wait_timeout,
        wait_for_ready,
    };
    (Some(hook), warnings)
}

/// The init container `init.hook.restore.velero.io/...` describe: `None` without an image.
/// Without a name Velero makes one up (`velero-restore-init-<8 hex>`); veloxide's is made from
/// the pod's name so that restoring the same pod twice gives the same container.
pub fn restore_init_container(
    pod: &str,
    annotations: &BTreeMap<String, String>,
) -> Option<serde_json::Value> {
    let get = |key: &str| {
        annotations
            .get(&format!("{RESTORE_INIT}{key}"))
            .map(String::as_str)
            .unwrap_or("")
    };
    let image = get("container-image");
    if image.is_empty() {
        return None;
    }
    let name = match get("container-name") {
        "" => format!("velero-restore-init-{:08x}", fnv(pod)),
        n => n.to_owned(),
    };
    let mut container = serde_json::json!({"name": name, "image": image});
    let command = get("command");
    if !command.is_empty() {
        container["command"] = serde_json::json!(parse_command(command));
    }
    Some(container)
}

/// A 32-bit FNV-1a hash: a stable short suffix, not a secret.
fn fnv(text: &str) -> u32 {
    text.bytes().fold(0x811c9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x01000193)
    })
}

/// Velero's `parseStringToCommand`: a JSON array when it starts with `[` and parses, else the
/// whole value as one word.
pub fn parse_command(value: &str) -> Vec<String> {
    if value.starts_with('[')
        && let Ok(words) = serde_json::from_str::<Vec<String>>(value)
    {
        return words;
    }
    vec![value.to_owned()]
}

/// `Continue` or `Fail`, else Velero's default, `Fail`.
fn on_error(value: &str) -> HookErrorMode {
    match value {
        "Continue" => HookErrorMode::Continue,
        _ => HookErrorMode::Fail,
    }
}

/// A duration annotation; a bad one is a warning and `None` (the default applies).
fn duration(key: &str, value: &str, warnings: &mut Vec<String>) -> Option<Duration> {
    if value.is_empty() {
        return None;
    }
    match GoDuration(value.to_owned()).parse() {
        Ok(d) if d.is_zero() => None,
        Ok(d) => Some(d),
        Err(e) => {
            warnings.push(format!("annotation {key}: {e}; using the default"));
            None
        }
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn backup_annotations_table() {
        type Want<'a> = Option<(&'a [&'a str], Option<&'a str>, HookErrorMode, u64)>;
        type Case<'a> = (&'a [(&'a str, &'a str)], Phase, Want<'a>);
        let cases: &[Case] = &[
            (&[], Phase::Pre, None),
            (
                &[
                    (
                        "pre.hook.backup.velero.io/command",
                        "[\"/bin/sh\",\"-c\",\"sync\"]",
                    ),
                    ("pre.hook.backup.velero.io/container", "db"),
                    ("pre.hook.backup.velero.io/on-error", "Continue"),
                    ("pre.hook.backup.velero.io/timeout", "2m"),
                ],
                Phase::Pre,
                Some((
                    &["/bin/sh", "-c", "sync"],
                    Some("db"),
                    HookErrorMode::Continue,
                    120,
                )),
            ),
            // The unprefixed keys are the pre hook's, never the post hook's.
            (
                &[("hook.backup.velero.io/command", "sync")],
                Phase::Pre,
                Some((&["sync"], None, HookErrorMode::Fail, 30)),
            ),
            (
                &[("hook.backup.velero.io/command", "sync")],
                Phase::Post,
                None,
            ),
            // A prefixed pre command wins over the unprefixed one.
            (
                &[
                    ("hook.backup.velero.io/command", "a"),
                    ("pre.hook.backup.velero.io/command", "b"),
                ],
                Phase::Pre,
                Some((&["b"], None, HookErrorMode::Fail, 30)),
            ),
            // Not a JSON array: one word. A bad on-error: Fail.
            (
                &[
                    ("post.hook.backup.velero.io/command", "[oops"),
                    ("post.hook.backup.velero.io/on-error", "continue"),
                ],
                Phase::Post,
                Some((&["[oops"], None, HookErrorMode::Fail, 30)),
            ),
        ];
        for (annotations, phase, want) in cases {
            let (got, _) = backup_hook(&map(annotations), *phase);
            let got = got.map(|e| {
                (
                    e.command.clone(),
                    e.container.clone(),
                    e.on_error,
                    e.timeout.as_secs(),
                )
            });
            let want = want.map(|(c, k, o, t)| {
                (
                    c.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    k.map(str::to_owned),
                    o,
                    t,
                )
            });
            assert_eq!(got, want, "{annotations:?} {phase:?}");
        }
    }

    #[test]
    fn a_bad_timeout_is_a_warning_and_the_default() {
        let (hook, warnings) = backup_hook(
            &map(&[
                ("pre.hook.backup.velero.io/command", "sync"),
                ("pre.hook.backup.velero.io/timeout", "ten"),
            ]),
            Phase::Pre,
        );
        assert_eq!(hook.unwrap().timeout, DEFAULT_TIMEOUT);
        assert!(warnings[0].starts_with("annotation pre.hook.backup.velero.io/timeout:"));
    }

    #[test]
    fn restore_annotations() {
        let (hook, warnings) = restore_exec_hook(&map(&[
            ("post.hook.restore.velero.io/command", "[\"cat\",\"/x\"]"),
            ("post.hook.restore.velero.io/exec-timeout", "5s"),
            ("post.hook.restore.velero.io/wait-timeout", "2m"),
            ("post.hook.restore.velero.io/wait-for-ready", "true"),
            ("post.hook.restore.velero.io/on-error", "Continue"),
        ]));
        let hook = hook.unwrap();
        assert!(warnings.is_empty());
        assert_eq!(hook.exec.command, ["cat", "/x"]);
        assert_eq!(hook.exec.timeout, Duration::from_secs(5));
        assert_eq!(hook.wait_timeout, Duration::from_secs(120));
        assert!(hook.wait_for_ready);
        assert_eq!(hook.exec.on_error, HookErrorMode::Continue);
        assert_eq!(restore_exec_hook(&map(&[])).0, None);
    }

    #[test]
    fn restore_init_from_annotations() {
        let a = map(&[
            ("init.hook.restore.velero.io/container-image", "busybox"),
            ("init.hook.restore.velero.io/command", "[\"touch\",\"/x\"]"),
        ]);
        let c = restore_init_container("ns/p", &a).unwrap();
        assert_eq!(c["image"], "busybox");
        assert_eq!(c["command"], serde_json::json!(["touch", "/x"]));
        let name = c["name"].as_str().unwrap();
        assert!(
            name.starts_with("velero-restore-init-") && name.len() == 28,
            "{name}"
        );
        assert_eq!(restore_init_container("ns/p", &a).unwrap()["name"], name);
        assert_eq!(restore_init_container("ns/p", &map(&[])), None);
    }
}
