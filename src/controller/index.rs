//! Which locations name which Secrets, so a Secret change re-checks exactly those locations.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// Secret name → names of the locations that name it. Updated on every reconcile from the
/// parsed spec, so it always reflects what the locations say now.
#[derive(Default)]
pub struct SecretIndex {
    by_secret: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

impl SecretIndex {
    /// Record that `location` names exactly `secrets` (replacing what it named before).
    pub fn set(&self, location: &str, secrets: &[&str]) {
        let mut map = self.by_secret.lock().expect("index lock");
        for holders in map.values_mut() {
            holders.remove(location);
        }
        for secret in secrets {
            map.entry((*secret).to_owned())
                .or_default()
                .insert(location.to_owned());
        }
        map.retain(|_, holders| !holders.is_empty());
    }

    /// Forget a deleted location.
    pub fn remove(&self, location: &str) {
        self.set(location, &[]);
    }

    /// The locations naming `secret`.
    pub fn locations_naming(&self, secret: &str) -> Vec<String> {
        self.by_secret
            .lock()
            .expect("index lock")
            .get(secret)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_maps_to_exactly_the_locations_naming_it() {
        let index = SecretIndex::default();
        index.set("a", &["ca", "creds"]);
        index.set("b", &["ca"]);
        assert_eq!(index.locations_naming("ca"), ["a", "b"]);
        assert_eq!(index.locations_naming("creds"), ["a"]);
        index.set("a", &["other-ca"]);
        assert_eq!(index.locations_naming("ca"), ["b"]);
        assert!(index.locations_naming("creds").is_empty());
        index.remove("b");
        assert!(index.locations_naming("ca").is_empty());
        assert_eq!(index.locations_naming("other-ca"), ["a"]);
    }
}
