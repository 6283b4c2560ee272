//! The one glob builder: exemption names and namespaces, image patterns, `globs` settings
//! and `glob_match` in rules all go through [`build`], so they share one syntax (`*` matches
//! any characters including `/`, `?` one character, `[abc]` a class, `\` escapes) and one
//! size limit. The limit exists because the glob library panics on patterns of ~100,000
//! `*`, and such a pattern is never meant.

use globset::{GlobBuilder, GlobMatcher};

/// Bytes in one glob or image pattern.
pub(crate) const MAX_GLOB_LEN: usize = 1024;

/// The pattern text for messages: long patterns are cut.
pub(crate) fn shown(pattern: &str) -> String {
    if pattern.chars().count() <= 60 {
        return pattern.to_string();
    }
    let head: String = pattern.chars().take(60).collect();
    format!("{head}…")
}

/// Builds a glob; `Err` says what is wrong, without naming the pattern.
pub(crate) fn build(pattern: &str) -> Result<globset::Glob, String> {
    if pattern.len() > MAX_GLOB_LEN {
        return Err(format!(
            "it is {} bytes long, over the limit of {MAX_GLOB_LEN}",
            pattern.len()
        ));
    }
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map_err(|e| e.kind().to_string())
}

/// A glob over names (`dev-*`).
#[derive(Debug, Clone)]
pub struct Glob {
    matcher: GlobMatcher,
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, String> {
        let matcher = build(pattern)
            .map_err(|e| format!("invalid glob `{}`: {e}", shown(pattern)))?
            .compile_matcher();
        Ok(Glob { matcher })
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.matcher.is_match(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_patterns_are_errors_not_panics() {
        let e = Glob::new(&"*".repeat(100_000)).unwrap_err();
        assert!(e.contains("over the limit of 1024"), "{e}");
        assert!(
            e.len() < 200,
            "the message does not repeat the pattern: {e}"
        );
        assert!(
            Glob::new(&"*".repeat(1000))
                .unwrap()
                .is_match("anything/at/all")
        );
    }

    #[test]
    fn one_syntax() {
        let g = Glob::new("dev-*").unwrap();
        assert!(g.is_match("dev-a/b") && !g.is_match("prod-a"));
        assert!(Glob::new(r"a\*").unwrap().is_match("a*"));
        assert!(!Glob::new(r"a\*").unwrap().is_match("ab"));
        assert!(Glob::new("[").is_err());
    }
}
