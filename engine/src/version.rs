//! Lenient version comparison for image tags and labels (`1.27`, `v2.4.1`, `3.12.0-rc1`).
//!
//! Strict SemVer parsers reject most real tags (`1.27`, `v2`, `16.4-alpine`), so rules
//! get this ordering instead: numeric parts compare as numbers, missing parts count as 0,
//! and a suffix after `-` sorts before the plain version, the way SemVer pre-releases do.

use std::cmp::Ordering;

/// A version split into its numeric core and optional suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version<'a> {
    core: Vec<u64>,
    suffix: Option<&'a str>,
}

impl<'a> Version<'a> {
    /// Parses `1.2.3`, `v1.2`, `1.2.3-rc.1`, `1.2.3+build` (build metadata is ignored).
    pub fn parse(text: &'a str) -> Result<Version<'a>, String> {
        let trimmed = text.trim();
        let body = trimmed
            .strip_prefix('v')
            .or_else(|| trimmed.strip_prefix('V'))
            .unwrap_or(trimmed);
        let body = body.split('+').next().unwrap_or(body);
        let (core_text, suffix) = match body.split_once('-') {
            Some((core, suffix)) => (core, Some(suffix)),
            None => (body, None),
        };
        let core = core_text
            .split('.')
            .map(|part| part.parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                format!(
                    "`{text}` is not a version: expected numbers separated by dots, like `1.27.3`"
                )
            })?;
        Ok(Version {
            core,
            suffix: suffix.filter(|s| !s.is_empty()),
        })
    }
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        let parts = self.core.len().max(other.core.len());
        for i in 0..parts {
            let a = self.core.get(i).copied().unwrap_or(0);
            let b = other.core.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        match (self.suffix, other.suffix) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => compare_suffixes(a, b),
        }
    }
}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// SemVer's pre-release order: dot-separated identifiers, numeric ones as numbers and
/// below textual ones.
fn compare_suffixes(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// Compares two version strings.
pub fn compare(a: &str, b: &str) -> Result<Ordering, String> {
    Ok(Version::parse(a)?.cmp(&Version::parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(a: &str, b: &str) -> Ordering {
        compare(a, b).unwrap()
    }

    #[test]
    fn numeric_parts_compare_as_numbers() {
        assert_eq!(order("1.10", "1.9"), Ordering::Greater);
        assert_eq!(order("v2", "2.0.0"), Ordering::Equal);
        assert_eq!(order("1.27.3", "1.27.10"), Ordering::Less);
    }

    #[test]
    fn suffixes_sort_before_the_release() {
        assert_eq!(order("1.2.0-rc1", "1.2.0"), Ordering::Less);
        assert_eq!(order("1.2.0-rc.2", "1.2.0-rc.10"), Ordering::Less);
        assert_eq!(order("1.2.0-alpha", "1.2.0-beta"), Ordering::Less);
        assert_eq!(order("1.2.0+build5", "1.2.0"), Ordering::Equal);
    }

    #[test]
    fn non_versions_are_errors() {
        assert!(
            compare("latest", "1.0")
                .unwrap_err()
                .contains("`latest` is not a version")
        );
        assert!(compare("1..2", "1.0").is_err());
        assert!(compare("", "1.0").is_err());
    }
}
