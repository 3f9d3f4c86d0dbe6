//! The specification's naming rules for instruments (the kinds are in
//! `crate::kinds`).

use crate::error::Error;

/// Checks an instrument name: ALPHA then up to 254 of ALPHA, DIGIT, `_ . - /`.
pub fn validate_name(name: &str) -> Result<(), Error> {
    let b = name.as_bytes();
    if b.is_empty() {
        return Err(Error::InvalidName("the name is empty".into()));
    }
    if b.len() > 255 {
        return Err(Error::InvalidName(format!(
            "{}...: longer than 255 characters",
            name.chars().take(32).collect::<String>()
        )));
    }
    if !b[0].is_ascii_alphabetic() {
        return Err(Error::InvalidName(format!(
            "{name:?}: must start with an ASCII letter"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')))
    {
        return Err(Error::InvalidName(format!(
            "{name:?}: character {c:?} is not allowed (use A-Z a-z 0-9 _ . - /)"
        )));
    }
    Ok(())
}

/// Checks a unit: ASCII, at most 63 characters.
pub fn validate_unit(unit: &str) -> Result<(), Error> {
    if !unit.is_ascii() {
        return Err(Error::InvalidUnit(format!("{unit:?}: must be ASCII")));
    }
    if unit.len() > 63 {
        return Err(Error::InvalidUnit(format!(
            "{unit:?}: longer than 63 characters"
        )));
    }
    Ok(())
}

/// Checks a description: characters of the Basic Multilingual Plane only.
pub fn validate_description(d: &str) -> Result<(), Error> {
    if let Some(c) = d.chars().find(|c| (*c as u32) > 0xFFFF) {
        return Err(Error::InvalidDescription(format!(
            "character U+{:X} is outside the Basic Multilingual Plane",
            c as u32
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        for ok in ["a", "http.server.duration", "A_b-c/d.9", &"x".repeat(255)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "9abc",
            "_a",
            ".a",
            "a b",
            "a:b",
            "ä",
            "a\u{0}",
            &"x".repeat(256),
        ] {
            let e = validate_name(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidName(_)), "{bad}");
        }
    }

    #[test]
    fn unit_and_description_rules() {
        assert!(validate_unit("").is_ok());
        assert!(validate_unit("By/s").is_ok());
        assert!(validate_unit(&"m".repeat(63)).is_ok());
        assert!(validate_unit(&"m".repeat(64)).is_err());
        assert!(validate_unit("µs").is_err());
        assert!(validate_description("latency ✓ 延迟").is_ok());
        assert!(validate_description("emoji 😀").is_err());
    }
}
