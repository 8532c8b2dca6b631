//! Label values made from names, as Velero makes them (`pkg/label`), so selectors written for
//! Velero find the same objects.

/// The longest label value (and DNS-1035 label) Kubernetes accepts.
pub const MAX_LENGTH: usize = 63;

/// `name` when it fits in a label value; otherwise its first 57 bytes followed by the first six
/// hex digits of its SHA-256 (Velero's `GetValidName`), so long names stay distinct.
pub fn valid_name(name: &str) -> String {
    if name.len() <= MAX_LENGTH {
        return name.to_owned();
    }
    let digest = openssl::sha::sha256(name.as_bytes());
    let hex: String = digest[..3].iter().map(|b| format!("{b:02x}")).collect();
    // Object names are ASCII; a lossy cut keeps any other input from panicking.
    let head = String::from_utf8_lossy(&name.as_bytes()[..MAX_LENGTH - 6]);
    format!("{head}{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_kept_and_long_ones_cut_with_velero_s_hash() {
        assert_eq!(valid_name("default"), "default");
        let exact = "a".repeat(63);
        assert_eq!(valid_name(&exact), exact);
        // 64 characters: 57 kept, then sha256("a"*64)[..6]; the digest was computed with
        // `printf 'a%.0s' $(seq 64) | sha256sum` (ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb).
        let long = "a".repeat(64);
        let label = valid_name(&long);
        assert_eq!(label.len(), 63);
        assert_eq!(label, format!("{}ffe054", "a".repeat(57)));
        // Two long names that share their first 57 characters get different labels.
        let other = format!("{}b", "a".repeat(63));
        assert_ne!(valid_name(&other), label);
        assert!(valid_name(&other).starts_with(&"a".repeat(57)));
    }
}
