//! Reading UUIDs in exactly the forms the spec allows.
//!
//! Hand-written because the accepted set is small and precise: after trimming,
//! an optional `urn:uuid:` prefix (any case), then either 32 hex digits or the
//! 8-4-4-4-12 hyphenated form, either optionally in `{}`. General-purpose UUID
//! crates accept other shapes too, which the spec rules out.

use crate::types::Uuid;

/// Parse `s` (trimmed first) as a UUID, or `None` if it is in no allowed form.
pub(crate) fn parse_uuid(s: &str) -> Option<Uuid> {
    let mut s = s.trim();
    if s.len() >= 9 && s.as_bytes()[..9].eq_ignore_ascii_case(b"urn:uuid:") {
        s = &s[9..];
    }
    if let Some(inner) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        s = inner;
    }
    let b = s.as_bytes();
    let mut out = [0u8; 16];
    let mut nibbles = 0usize;
    match b.len() {
        32 => {}
        36 => {
            if [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
                return None;
            }
        }
        _ => return None,
    }
    for (i, &c) in b.iter().enumerate() {
        if b.len() == 36 && matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        let v = (c as char).to_digit(16)? as u8;
        out[nibbles / 2] |= if nibbles.is_multiple_of(2) { v << 4 } else { v };
        nibbles += 1;
    }
    Some(Uuid::from_bytes(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANON: &str = "3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f";

    #[test]
    fn accepted_forms() {
        let cases = [
            "3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f",
            "3F2B8C1E-9A4D-4C1B-8E2F-0A1B2C3D4E5F",
            "3f2b8c1e9a4d4c1b8e2f0a1b2c3d4e5f",
            "{3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f}",
            "{3f2b8c1e9a4d4c1b8e2f0a1b2c3d4e5f}",
            "urn:uuid:3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f",
            "URN:UUID:{3f2b8c1e9a4d4c1b8e2f0a1b2c3d4e5f}",
            "  Urn:Uuid:3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f\n",
            "\u{a0}3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f\u{3000}",
        ];
        for c in cases {
            assert_eq!(
                parse_uuid(c).map(|u| u.to_string()).as_deref(),
                Some(CANON),
                "{c:?}"
            );
        }
    }

    #[test]
    fn rejected_forms() {
        let cases = [
            "",
            "abc",
            "not-a-uuid",
            "3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5",
            "3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f0",
            "3f2b8c1e9a4d-4c1b-8e2f-0a1b2c3d4e5f0",
            "3f2b8c1e-9a4d4c1b-8e2f-0a1b2c3d4e5f",
            "g f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f",
            "{3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f",
            "3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f}",
            "{urn:uuid:3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f}",
            "urn:uuid:urn:uuid:3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f",
            "{ 3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f }",
            "3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5ff",
            "+f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f",
            "3f2b8c1e_9a4d_4c1b_8e2f_0a1b2c3d4e5f",
            "3f2b8c1e-9a4d-4c1b-8e2f-0a1b2c3d4é",
            "urn:uuid:",
            "{}",
        ];
        for c in cases {
            assert_eq!(parse_uuid(c), None, "{c:?}");
        }
    }
}
