//! What Velero's `delete` commands share: `NAME... | --selector S | --all`, and `--confirm`
//! (asked on a terminal when not given).

use std::fmt::Debug;
use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::Context as _;
use clap::Args;
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams};
use serde::de::DeserializeOwned;

use super::output::selector_arg;
use super::usage::UsageError;

/// Which objects a command acts on: names, a selector, or all of them (exactly one).
#[derive(Args, Debug, Clone)]
pub struct SelectArgs {
    /// The objects to act on, by name.
    pub names: Vec<String>,
    /// Act on every object in the namespace.
    #[arg(long)]
    pub all: bool,
    /// Act on every object whose labels match this selector.
    #[arg(short = 'l', long, value_parser = selector_arg)]
    pub selector: Option<String>,
    /// Do not ask for confirmation (needed when standard input is not a terminal).
    #[arg(long)]
    pub confirm: bool,
}

/// What [`SelectArgs`] chose, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Names(Vec<String>),
    /// A label selector; `""` selects everything (`--all`).
    Selector(String),
}

impl SelectArgs {
    /// Velero's rule: exactly one of names, `--all` and `--selector`. `kind` is the singular
    /// noun (`restore`) for the message.
    pub fn selection(&self, kind: &str) -> Result<Selection, UsageError> {
        let given = [!self.names.is_empty(), self.all, self.selector.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(UsageError(format!(
                "you must specify exactly one of: specific {kind} name(s), the --all flag, or \
                 the --selector flag"
            )));
        }
        Ok(if !self.names.is_empty() {
            Selection::Names(self.names.clone())
        } else {
            Selection::Selector(self.selector.clone().unwrap_or_default())
        })
    }
}

impl Selection {
    /// The names this selection stands for: the names given, or those of the objects the
    /// selector lists (`plural` names the kind in the error).
    pub async fn names<K>(self, api: &Api<K>, plural: &str) -> anyhow::Result<Vec<String>>
    where
        K: Resource + Clone + DeserializeOwned + Debug,
    {
        Ok(match self {
            Selection::Names(names) => names,
            Selection::Selector(selector) => api
                .list(&ListParams::default().labels(&selector))
                .await
                .with_context(|| format!("cannot list {plural}"))?
                .items
                .into_iter()
                .filter_map(|o| o.meta().name.clone())
                .collect(),
        })
    }
}

/// Delete one object; `true` when the API server took the delete, else the reason is on
/// standard error (`noun` names the kind: `restore`).
pub async fn delete_one<K>(api: &Api<K>, name: &str, noun: &str, namespace: &str) -> bool
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => true,
        Err(kube::Error::Api(e)) if e.code == 404 => {
            eprintln!("{noun} {name:?} not found in namespace {namespace}");
            false
        }
        Err(e) => {
            eprintln!("{noun} {name:?}: cannot delete: {e}");
            false
        }
    }
}

/// `--confirm`, or a yes from the terminal. Without a terminal to ask on, a usage error: a
/// script must say `--confirm`, it is never taken as a yes.
pub fn confirmed(confirm: bool, prompt: &str) -> anyhow::Result<bool> {
    if confirm {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(format!(
            "{prompt}: refusing without --confirm, as standard input is not a terminal to ask on"
        ))
        .into());
    }
    println!("{prompt}");
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    // Bounded: a terminal that keeps sending nonsense is asked at most ten times.
    for _ in 0..10 {
        print!("Are you sure you want to continue (Y/N)? ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            return Ok(false);
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return Ok(true),
            "n" | "no" => return Ok(false),
            _ => {}
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(names: &[&str], all: bool, selector: Option<&str>) -> SelectArgs {
        SelectArgs {
            names: names.iter().map(|n| n.to_string()).collect(),
            all,
            selector: selector.map(str::to_owned),
            confirm: false,
        }
    }

    #[test]
    fn exactly_one_way_to_choose() {
        assert_eq!(
            args(&["a", "b"], false, None).selection("restore").unwrap(),
            Selection::Names(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            args(&[], true, None).selection("restore").unwrap(),
            Selection::Selector(String::new())
        );
        assert_eq!(
            args(&[], false, Some("app=x"))
                .selection("restore")
                .unwrap(),
            Selection::Selector("app=x".into())
        );
        for bad in [
            args(&[], false, None),
            args(&["a"], true, None),
            args(&[], true, Some("a=b")),
        ] {
            let e = bad.selection("restore").unwrap_err();
            assert!(e.0.contains("specific restore name(s)"), "{e}");
        }
    }
}
