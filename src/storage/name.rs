use super::{Error, Result};

/// A container name must be a valid hostname label and a safe path component:
/// 1-63 characters of `[a-z0-9-]`, no leading or trailing `-`, not all digits.
pub fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 63 {
        Some("it is longer than 63 characters")
    } else if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        Some("it holds a character other than a-z, 0-9 and '-'")
    } else if name.starts_with('-') || name.ends_with('-') {
        Some("it starts or ends with '-'")
    } else if name.bytes().all(|b| b.is_ascii_digit()) {
        Some("it is all digits")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName { name: name.to_owned(), reason }),
        None => Ok(()),
    }
}

/// Why `name` cannot name a network (a bridge, so an interface name too), if it cannot.
pub fn network_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 15 {
        Some("it is longer than 15 characters (an interface name)")
    } else if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        Some("it holds a character other than a-z, 0-9 and '-'")
    } else if !name.as_bytes()[0].is_ascii_lowercase() || name.ends_with('-') {
        Some("it must start with a letter and not end with '-'")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_hostname_labels() {
        for ok in ["web1", "a", "x-1", "0a", &"a".repeat(63)] {
            validate_name(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn rejects_everything_else() {
        for bad in ["", "..", ".", "a/b", "-x", "x-", "UPPER", "a_b", "123", "a b", "é", &"a".repeat(64)] {
            assert!(validate_name(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
