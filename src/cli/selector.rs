//! Label selectors as `kubectl -l` and Velero's `--selector` write them.

use std::collections::BTreeMap;

use anyhow::bail;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

/// Parse a label selector as `kubectl -l` and Velero's `--selector` read it: `k=v`, `k==v`,
/// `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` and `!k`, joined by commas.
pub fn parse_selector(text: &str) -> anyhow::Result<LabelSelector> {
    let mut match_labels = BTreeMap::new();
    let mut expressions = Vec::new();
    let requirement =
        |key: &str, operator: &str, values: Option<Vec<String>>| LabelSelectorRequirement {
            key: key.to_owned(),
            operator: operator.to_owned(),
            values,
        };
    for term in split_terms(text) {
        let term = term.trim();
        if term.is_empty() {
            bail!("--selector {text:?}: empty term");
        }
        let bad = || anyhow::anyhow!("--selector {text:?}: cannot read {term:?}");
        if let Some((key, rest)) = term.split_once(" notin ").or(term.split_once(" in ")) {
            let operator = if term.contains(" notin ") {
                "NotIn"
            } else {
                "In"
            };
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(bad)?;
            let values = inner.split(',').map(|v| v.trim().to_owned()).collect();
            expressions.push(requirement(key.trim(), operator, Some(values)));
        } else if let Some((key, value)) = term.split_once("!=") {
            let values = Some(vec![value.trim().to_owned()]);
            expressions.push(requirement(key.trim(), "NotIn", values));
        } else if let Some((key, value)) = term.split_once("==").or(term.split_once('=')) {
            match_labels.insert(key.trim().to_owned(), value.trim().to_owned());
        } else if let Some(key) = term.strip_prefix('!') {
            expressions.push(requirement(key.trim(), "DoesNotExist", None));
        } else if term.contains(char::is_whitespace) || term.contains(['(', ')']) {
            return Err(bad());
        } else {
            expressions.push(requirement(term, "Exists", None));
        }
    }
    Ok(LabelSelector {
        match_labels: (!match_labels.is_empty()).then_some(match_labels),
        match_expressions: (!expressions.is_empty()).then_some(expressions),
    })
}

/// Velero's `--or-selector`: selectors separated by ` or ` (`app=web or tier=db`), any of
/// which an object may match.
pub fn parse_or_selector(text: &str) -> anyhow::Result<Vec<LabelSelector>> {
    use anyhow::Context as _;
    text.split(" or ")
        .map(|s| parse_selector(s.trim()))
        .collect::<anyhow::Result<Vec<_>>>()
        .context("--or-selector")
}

/// Split on commas outside parentheses.
fn split_terms(text: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_term() {
        let s = parse_selector("app=web,tier in (a, b),!legacy,zone,env!=dev").unwrap();
        assert_eq!(s.match_labels.unwrap()["app"], "web");
        let ops: Vec<String> = s
            .match_expressions
            .unwrap()
            .into_iter()
            .map(|r| format!("{} {} {:?}", r.key, r.operator, r.values))
            .collect();
        assert_eq!(
            ops,
            [
                r#"tier In Some(["a", "b"])"#,
                "legacy DoesNotExist None",
                "zone Exists None",
                r#"env NotIn Some(["dev"])"#,
            ]
        );
    }

    #[test]
    fn or_selectors_split_on_or() {
        let s = parse_or_selector("app=web or tier in (a, b)").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].match_labels.as_ref().unwrap()["app"], "web");
        assert!(s[1].match_expressions.is_some());
        let refused = format!("{:#}", parse_or_selector("app=web or a b").unwrap_err());
        assert!(
            refused.starts_with("--or-selector: --selector \"a b\""),
            "{refused}"
        );
    }
}
