//! An item's JSON, parsed within a known multiple of its size. A `serde_json::Value` costs
//! far more than its text when the text is dense (`[0,0,0,…]`: 2 bytes of text, a 32-byte
//! value and its slot), so 3 MiB of crafted JSON could take hundreds of MiB, times the items
//! in flight. [`estimate`] bounds what a parse will hold from a scan that allocates nothing;
//! an item over [`MULTIPLE`] times its size is refused before it is parsed, and a restore
//! reserves what it may hold before parsing it ([`reservation`]), so the items in flight
//! together stay within one budget.

use serde_json::Value;

/// What a parsed value may cost per byte of its text, at most. Measured (serde_json 1,
/// counting allocator): a CustomResourceDefinition's schema, the densest object Kubernetes
/// keeps, takes about 24 times its text (the estimate says 39); `[0,0,…]` 32 times (the
/// estimate, for the worst moment of a `Vec`'s growth, 51), `[{"a":0},…]` 84 times.
pub const MULTIPLE: u64 = 48;

/// The allowance of an item so small its multiple says nothing (a `{"a":[1,2]}`).
const FLOOR: u64 = 64 * 1024;

/// The most one item's parse may hold, whatever its size: with the restore's copies of it
/// (`COPIES`) and the server's steady use, under the chart's 256 MiB memory limit. A 1.5 MiB
/// CustomResourceDefinition (etcd's default object limit) is within it.
pub const MAX_PARSED_BYTES: u64 = 64 * 1024 * 1024;

/// Upper bounds, from the same measurements, of what each token adds to a `Value` tree: an
/// object's first B-tree node (11 slots of key and value, allocated whole, about 640 bytes);
/// an array element or map entry (a 32-byte `Value` in a `Vec` whose growth holds the old
/// buffer and the doubled one at once: up to 96 bytes an element, or a key's `String` header
/// and its share of a node). Text is counted three times: a string's bytes, and serde_json's
/// scratch buffer for strings with escapes, which may have doubled.
const PER_OBJECT: u64 = 704;
const PER_VALUE: u64 = 96;
const PER_BYTE: u64 = 3;
/// An array's first allocation: four 32-byte slots (found by the fuzz target `item_json`:
/// `[[[22]]` took more than 96 a bracket).
const PER_ARRAY: u64 = 128;
/// The top value, and the boxed error of a text that does not parse.
const BASE: u64 = 256;

/// How many copies of an item a restore holds at once: the value and the `DynamicObject`
/// made from it, and the object read back when it exists.
const COPIES: u64 = 3;

/// A bound on the bytes a parse of `text` holds, from a scan that is linear and allocates
/// nothing: [`PER_BYTE`] per byte of text, [`PER_OBJECT`] per `{`, [`PER_ARRAY`] per `[` and
/// [`PER_VALUE`] per `,` and `:` outside strings.
pub fn estimate(text: &[u8]) -> u64 {
    let (mut in_string, mut escaped) = (false, false);
    let mut cost = (text.len() as u64).saturating_mul(PER_BYTE) + BASE;
    for &b in text {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => cost += PER_OBJECT,
            b'[' => cost += PER_ARRAY,
            b',' | b':' => cost += PER_VALUE,
            _ => {}
        }
    }
    cost
}

/// What a parse of an item of `size` bytes may hold: the multiple (or the floor), at most
/// [`MAX_PARSED_BYTES`].
pub fn allowance(size: u64) -> u64 {
    size.saturating_mul(MULTIPLE).clamp(FLOOR, MAX_PARSED_BYTES)
}

/// What a restore reserves for an item whose text is `size` bytes and whose parse is
/// estimated at `estimate` bytes.
pub fn reservation(size: u64, estimate: u64) -> u64 {
    estimate.saturating_mul(COPIES).saturating_add(size)
}

/// What a parse of `text` may cost ([`estimate`]), or why it is refused: over its allowance.
pub fn admit(text: &[u8]) -> Result<u64, String> {
    let (cost, allowed) = (estimate(text), allowance(text.len() as u64));
    if cost > allowed {
        return Err(format!(
            "refused: its {} bytes of JSON would take about {cost} bytes parsed, over the \
             restore's bound of {MULTIPLE} times an item's size (at most {MAX_PARSED_BYTES} \
             bytes); nothing was created",
            text.len()
        ));
    }
    Ok(cost)
}

/// Parse an item, refusing it when its estimate is over its allowance.
pub fn parse(text: &[u8]) -> Result<Value, String> {
    admit(text)?;
    serde_json::from_slice(text).map_err(|e| format!("the item is not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_json_is_refused_and_kubernetes_objects_are_not() {
        let dense = |unit: &str, n: usize| format!("[{}0]", unit.repeat(n)).into_bytes();
        for (what, text, ok) in [
            ("a ConfigMap", br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"app","labels":{"app":"web"}},"data":{"k":"v"}}"#.to_vec(), true),
            // Big but sparse: one long string.
            ("a large ConfigMap", format!(r#"{{"data":{{"blob":"{}"}}}}"#, "x".repeat(2 << 20)).into_bytes(), true),
            // 32 times measured, 51 by the estimate (a Vec's growth at its worst).
            ("zeros, 2 bytes each", dense("0,", 200_000), false),
            ("empty objects", format!("[{}{{}}]", "{},".repeat(100_000)).into_bytes(), false),
            ("maps of one", format!("[{}{{}}]", r#"{"a":0},"#.repeat(100_000)).into_bytes(), false),
            ("small, under the floor", dense("0,", 100), true),
            // Commas in strings are not values.
            ("commas in a string", format!(r#"{{"a":"{}"}}"#, ",".repeat(1 << 20)).into_bytes(), true),
            ("escaped quotes", format!(r#"{{"a":"{}"}}"#, "\\\",".repeat(1 << 18)).into_bytes(), true),
        ] {
            assert_eq!(parse(&text).is_ok(), ok, "{what}: estimate {} for {} bytes", estimate(&text), text.len());
        }
        let err = parse(format!("[{}{{}}]", "{},".repeat(100_000)).as_bytes()).unwrap_err();
        assert!(err.contains("48 times an item's size"), "{err}");
    }

    /// Found by the fuzz target `item_json`: three nested arrays of one element each allocate
    /// three 4-slot buffers (384 bytes) and, unclosed, an error; serde_json took 424 bytes.
    #[test]
    fn nested_arrays_count_their_first_allocation() {
        assert!(estimate(b"[[[22]]") >= 424, "{}", estimate(b"[[[22]]"));
    }

    /// A real object, a CustomResourceDefinition's schema (dense nested objects), is within the
    /// multiple with room to spare.
    #[test]
    fn a_crd_schema_is_within_the_multiple() {
        let prop = r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer","format":"int32"}},"required":["a"]}"#;
        let schema = format!(
            r#"{{"openAPIV3Schema":{{"type":"object","properties":{{{}}}}}}}"#,
            (0..2000)
                .map(|i| format!(r#""f{i}":{prop}"#))
                .collect::<Vec<_>>()
                .join(",")
        );
        let ratio = estimate(schema.as_bytes()) as f64 / schema.len() as f64;
        assert!(ratio < MULTIPLE as f64, "{ratio}");
        eprintln!("a CRD schema: the estimate is {ratio:.1} times its text");
        assert!(parse(schema.as_bytes()).is_ok());
    }
}
