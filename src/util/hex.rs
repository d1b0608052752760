/*!
Lowercase hexadecimal text of bytes (hashes in manifests, sidecars, the catalog and the audit log).
*/

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The bytes of hex text (either case); `None` when it is not an even number of hex digits.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digits() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(unhex("706D69"), Some(b"pmi".to_vec()));
        assert_eq!(unhex(""), Some(Vec::new()));
        assert_eq!(unhex("7"), None);
        assert_eq!(unhex("ZZ"), None);
    }
}
