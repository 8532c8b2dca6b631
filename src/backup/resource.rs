//! A resource as discovery describes it, and how filters name resources and namespaces: a
//! leaf the filters (old and scoped) share.

/// A listable resource, as discovery describes it (the preferred version only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceDesc {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub short_names: Vec<String>,
    pub namespaced: bool,
}

impl ResourceDesc {
    /// Velero's `GroupResource.String()`: `configmaps`, `deployments.apps`.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `<group/version>/<Kind>`, the key of Velero's resource list.
    pub fn gvk_key(&self) -> String {
        if self.group.is_empty() {
            format!("{}/{}", self.version, self.kind)
        } else {
            format!("{}/{}/{}", self.group, self.version, self.kind)
        }
    }

    pub fn is_namespaces(&self) -> bool {
        self.group.is_empty() && self.plural == "namespaces"
    }

    /// Whether `name` (as a user writes it in a filter) names this resource.
    pub fn named_by(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        if name == self.group_resource() {
            return true;
        }
        let (bare, group) = match name.split_once('.') {
            Some((bare, group)) => (bare, Some(group)),
            None => (name.as_str(), None),
        };
        if group.is_some_and(|g| g != self.group) {
            return false;
        }
        bare == self.plural
            || bare == self.singular
            || bare == self.kind.to_ascii_lowercase()
            || self.short_names.iter().any(|s| s == bare)
    }
}

/// Shell-style match: `*` any run of characters, `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}
