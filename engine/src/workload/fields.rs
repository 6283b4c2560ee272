//! Reading a field of a manifest by its path (`resources.limits.memory`, `ports[0].name`,
//! `nodeSelector["kubernetes.io/os"]`), as rules do with `workload.field(…)` and
//! `c.field(…)`.

use serde_json::Value;

/// The longest path accepted, and the most segments in one.
const MAX_PATH_LEN: usize = 1024;
const MAX_SEGMENTS: usize = 64;

/// One step of a path: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Splits a path into segments: `a.b[0]["c.d"]`. Keys are the manifest's own (camelCase);
/// a key with dots or brackets is written in quotes inside brackets.
pub fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    let invalid = |why: &str| {
        format!(
            "invalid field path `{}`: {why} (paths look like `resources.limits.memory`, `ports[0].containerPort` or `nodeSelector[\"kubernetes.io/os\"]`)",
            crate::glob::shown(path)
        )
    };
    if path.len() > MAX_PATH_LEN {
        return Err(invalid("too long"));
    }
    let mut segments = Vec::new();
    let chars: Vec<char> = path.chars().collect();
    let mut i = 0;
    let mut expect_key = true;
    while i < chars.len() {
        match chars[i] {
            '[' => {
                let close = chars[i..]
                    .iter()
                    .position(|&c| c == ']')
                    .map(|p| p + i)
                    .ok_or_else(|| invalid("a `[` is not closed"))?;
                let inner: String = chars[i + 1..close].iter().collect();
                if let Some(quoted) = inner
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                {
                    segments.push(Segment::Key(quoted.to_string()));
                } else {
                    let index = inner
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| invalid("an index must be a number, or a key in quotes"))?;
                    segments.push(Segment::Index(index));
                }
                i = close + 1;
                expect_key = false;
            }
            '.' => {
                if expect_key {
                    return Err(invalid("an empty key"));
                }
                expect_key = true;
                i += 1;
            }
            _ => {
                if !expect_key {
                    return Err(invalid("a key must follow a `.`"));
                }
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    if chars[i] == ']' {
                        return Err(invalid("a `]` without `[`"));
                    }
                    i += 1;
                }
                segments.push(Segment::Key(chars[start..i].iter().collect()));
                expect_key = false;
            }
        }
        if segments.len() > MAX_SEGMENTS {
            return Err(invalid("too many parts"));
        }
    }
    if segments.is_empty() {
        return Err(invalid("it is empty"));
    }
    if expect_key {
        return Err(invalid("it ends with `.`"));
    }
    Ok(segments)
}

/// The value at `segments` below `value`; `None` when any step is absent or of another
/// shape (a key of a list, an index of a mapping).
pub fn get<'v>(value: &'v Value, segments: &[Segment]) -> Option<&'v Value> {
    segments
        .iter()
        .try_fold(value, |current, segment| match (segment, current) {
            (Segment::Key(key), Value::Object(map)) => map.get(key),
            (Segment::Index(index), Value::Array(items)) => items.get(*index),
            _ => None,
        })
        .filter(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
        get(value, &parse_path(path).unwrap())
    }

    #[test]
    fn keys_indices_and_quoted_keys() {
        let c = json!({
            "resources": {"limits": {"memory": "512Mi"}},
            "ports": [{"containerPort": 8080}, {"containerPort": 9090, "name": "metrics"}],
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "empty": null
        });
        assert_eq!(at(&c, "resources.limits.memory"), Some(&json!("512Mi")));
        assert_eq!(at(&c, "ports[1].name"), Some(&json!("metrics")));
        assert_eq!(at(&c, "ports[0]"), Some(&json!({"containerPort": 8080})));
        assert_eq!(
            at(&c, "nodeSelector[\"kubernetes.io/os\"]"),
            Some(&json!("linux"))
        );
        assert_eq!(
            at(&c, "nodeSelector['kubernetes.io/os']"),
            Some(&json!("linux"))
        );
        // Absent, null, out of range and wrong shapes are all "not there".
        for absent in [
            "resources.requests.cpu",
            "ports[5].name",
            "ports.name",
            "resources[0]",
            "empty",
            "empty.more",
        ] {
            assert_eq!(at(&c, absent), None, "{absent}");
        }
    }

    #[test]
    fn malformed_paths_are_errors() {
        for bad in [
            "", ".", "a.", ".a", "a..b", "a[", "a[x]", "a]b", "a[0]b", "a[-1]",
        ] {
            let error = parse_path(bad).unwrap_err();
            assert!(error.contains("invalid field path"), "{bad}: {error}");
        }
        assert!(parse_path("a.".repeat(100).trim_end_matches('.')).is_err());
    }
}
