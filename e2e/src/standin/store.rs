//! In-memory objects, the global resourceVersion, and the event history watches replay from.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use super::resources::Registry;

/// How many past events a watch can resume from before it gets 410 Gone.
const HISTORY: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches replay it.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub key: String,
    pub kind: EventType,
    pub object: Value,
    /// The object before the change, so a watch with selectors can tell an object leaving its view.
    pub old: Option<Value>,
}

/// Objects of one resource type, by (namespace, name); cluster-scoped objects have namespace "".
pub type Objects = BTreeMap<(String, String), Value>;

pub struct Store {
    pub registry: Registry,
    rv: u64,
    objects: BTreeMap<String, Objects>,
    history: VecDeque<Arc<Event>>,
    /// Watches from a resourceVersion older than this get 410 Gone.
    compacted: u64,
    tx: broadcast::Sender<Arc<Event>>,
}

impl Store {
    pub fn new(registry: Registry) -> Self {
        let (tx, _) = broadcast::channel(4096);
        Store {
            registry,
            rv: 1,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            compacted: 0,
            tx,
        }
    }

    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    pub fn compacted_rv(&self) -> u64 {
        self.compacted
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    pub fn get(&self, key: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(key)?
            .get(&(ns.to_string(), name.to_string()))
    }

    /// All objects of a type, in (namespace, name) order.
    pub fn all(&self, key: &str) -> impl Iterator<Item = &Value> {
        self.objects.get(key).into_iter().flat_map(|m| m.values())
    }

    /// Objects of a type after `after` (exclusive) in (namespace, name) order: where a paged
    /// list resumes, without walking the pages already served.
    pub fn after<'a>(
        &'a self,
        key: &str,
        after: Option<(String, String)>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = after.map_or(Unbounded, Excluded);
        self.objects
            .get(key)
            .into_iter()
            .flat_map(move |m| m.range((start.clone(), Unbounded)).map(|(_, v)| v))
    }

    /// Every type's objects in one namespace, for namespace deletion.
    pub fn in_namespace(&self, ns: &str) -> Vec<(String, String)> {
        let mut out = vec![];
        for (key, objs) in &self.objects {
            for (n, name) in objs.keys() {
                if n == ns {
                    out.push((key.clone(), name.clone()));
                }
            }
        }
        out
    }

    /// Stores `object` (creating or replacing), stamping a new resourceVersion. Returns the stored copy.
    pub fn put(&mut self, key: &str, mut object: Value) -> Value {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let id = ident(&object);
        let old = self
            .objects
            .entry(key.to_string())
            .or_default()
            .insert(id, object.clone());
        let kind = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(key, kind, object.clone(), old);
        object
    }

    /// Removes an object. The DELETED event carries the object at a new resourceVersion, as the
    /// real server's does.
    pub fn remove(&mut self, key: &str, ns: &str, name: &str) -> Option<Value> {
        let mut old = self
            .objects
            .get_mut(key)?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.rv += 1;
        old["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        self.record(key, EventType::Deleted, old.clone(), None);
        Some(old)
    }

    /// Drops every object of a type (its CRD was deleted), with DELETED events.
    pub fn drop_type(&mut self, key: &str) {
        let ids: Vec<_> = self
            .objects
            .get(key)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for (ns, name) in ids {
            self.remove(key, &ns, &name);
        }
        self.objects.remove(key);
    }

    fn record(&mut self, key: &str, kind: EventType, object: Value, old: Option<Value>) {
        let ev = Arc::new(Event {
            rv: self.rv,
            key: key.to_string(),
            kind,
            object,
            old,
        });
        self.history.push_back(ev.clone());
        while self.history.len() > HISTORY {
            if let Some(e) = self.history.pop_front() {
                self.compacted = e.rv;
            }
        }
        let _ = self.tx.send(ev);
    }

    /// Events after `rv` for one type, oldest first.
    pub fn since(&self, key: &str, rv: u64) -> Vec<Arc<Event>> {
        self.history
            .iter()
            .filter(|e| e.rv > rv && e.key == key)
            .cloned()
            .collect()
    }

    /// Forgets the event history, so watches from any earlier resourceVersion get 410 Gone
    /// (what etcd compaction does on a real cluster).
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }
}

/// `(namespace, name)` of an object.
pub fn ident(object: &Value) -> (String, String) {
    let m = &object["metadata"];
    (
        m["namespace"].as_str().unwrap_or_default().to_string(),
        m["name"].as_str().unwrap_or_default().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resource_versions_increase_across_types_and_history_compacts() {
        let mut s = Store::new(Registry::with_builtins());
        let a = s.put(
            "/secrets",
            json!({"metadata": {"namespace": "x", "name": "a"}}),
        );
        let b = s.put(
            "/configmaps",
            json!({"metadata": {"namespace": "x", "name": "b"}}),
        );
        let rv = |v: &Value| {
            v["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        };
        assert!(rv(&b) > rv(&a));
        assert_eq!(s.since("/secrets", 0).len(), 1);
        s.remove("/secrets", "x", "a").unwrap();
        assert_eq!(s.since("/secrets", rv(&a))[0].kind, EventType::Deleted);
        s.compact();
        assert_eq!(s.compacted_rv(), s.current_rv());
    }
}
