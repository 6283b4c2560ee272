//! Container image references: parsing per the Docker/OCI reference grammar, Docker Hub
//! normalization, and the image patterns used by settings and exemptions.
//!
//! A hand-written parser rather than a crate: we need the Docker normalization rules exactly
//! (`index.docker.io`, `library/`), precise error messages for findings, and no regex engine
//! on the per-container hot path.

use std::fmt;

use globset::{Glob, GlobMatcher, GlobSet, GlobSetBuilder};

/// Docker Hub's canonical registry name after normalization.
pub const DOCKER_HUB: &str = "docker.io";
const NAME_MAX_LEN: usize = 255;
const TAG_MAX_LEN: usize = 128;

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The reference exactly as written in the manifest.
    pub original: String,
    /// Registry host, with port when given (`docker.io`, `registry:5000`).
    pub registry: String,
    /// Repository path below the registry (`library/nginx`).
    pub repository: String,
    /// `registry/repository`, the fully qualified name without tag or digest.
    pub name: String,
    /// The tag as written (`None` when there is none; see `effective_tag`).
    pub tag: Option<String>,
    /// `algorithm:encoded`, e.g. `sha256:…`.
    pub digest: Option<String>,
}

/// Why an image reference does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRefError {
    pub reference: String,
    pub reason: String,
}

impl fmt::Display for ImageRefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid image reference `{}`: {}",
            self.reference, self.reason
        )
    }
}

impl std::error::Error for ImageRefError {}

impl ImageRef {
    /// Parses and normalizes `reference` (`nginx` -> `docker.io/library/nginx`).
    pub fn parse(reference: &str) -> Result<ImageRef, ImageRefError> {
        let fail = |reason: String| ImageRefError {
            reference: reference.to_string(),
            reason,
        };
        if reference.is_empty() {
            return Err(fail("the reference is empty".into()));
        }
        if let Some(reason) = leftover(reference) {
            return Err(fail(reason));
        }
        if let Some(c) = reference
            .chars()
            .find(|c| c.is_whitespace() || c.is_control())
        {
            return Err(fail(format!("it contains the character {c:?}")));
        }

        let (rest, digest) = match reference.split_once('@') {
            Some((rest, digest)) => {
                validate_digest(digest).map_err(fail)?;
                (rest, Some(digest.to_string()))
            }
            None => (reference, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name_part, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &rest[last_slash + i + 1..];
                validate_tag(tag).map_err(fail)?;
                (&rest[..last_slash + i], Some(tag.to_string()))
            }
            None => (rest, None),
        };
        if name_part.is_empty() {
            return Err(fail("the repository name is empty".into()));
        }
        if name_part.len() > NAME_MAX_LEN {
            return Err(fail(format!(
                "the repository name is longer than {NAME_MAX_LEN} characters"
            )));
        }

        let (registry, path) = split_registry(name_part);
        if let Some(host) = registry {
            validate_registry(host).map_err(fail)?;
        }
        for component in path.split('/') {
            validate_path_component(component).map_err(fail)?;
        }
        let (registry, repository) = normalize_docker_hub(registry, path);
        Ok(ImageRef {
            original: reference.to_string(),
            name: format!("{registry}/{repository}"),
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The tag Kubernetes and Docker resolve to: the tag as written, or `latest` when the
    /// reference has neither tag nor digest.
    pub fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => Some(tag),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    /// `name[:tag][@digest]`, with an implicit `:latest` made explicit.
    pub fn full_name(&self) -> String {
        let mut out = self.name.clone();
        if let Some(tag) = self.effective_tag() {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest);
        }
        out
    }
}

/// Why `reference` is something a build or templating step should have replaced, not an
/// image: the real-world source of most invalid references, each with the step that fixes it.
fn leftover(reference: &str) -> Option<String> {
    let reason = if reference.starts_with("ko://") {
        "it is a `ko://` import path, which `ko resolve` (or `ko apply`) builds and replaces with \
         an image: check the resolved manifests"
    } else if reference.contains("{{") {
        "it is an unrendered template (`{{ … }}`): render the chart with `helm template` and \
         check its output"
    } else if reference.contains("${") || reference.contains("$(") {
        // Kubernetes expands `$(VAR)` in `command`, `args` and `env`, never in `image`.
        "it holds an unsubstituted variable (`${…}` or `$(…)`), which Kubernetes never expands \
         in `image`: substitute it (`envsubst`, `kustomize build`, your deploy tool) and check \
         the result"
    } else if reference
        .find('<')
        .is_some_and(|open| reference[open..].contains('>'))
    {
        "it holds a placeholder (`<…>`) to be replaced before the manifest is applied"
    } else {
        return None;
    };
    Some(reason.to_string())
}

/// Splits off the registry the way Docker does: the first component is a registry when the
/// name has more than one component and the first contains `.` or `:`, is `localhost`, or has
/// an upper-case letter.
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest)) if looks_like_registry(first) => (Some(first), rest),
        _ => (None, name),
    }
}

fn looks_like_registry(component: &str) -> bool {
    component.contains(['.', ':'])
        || component == "localhost"
        || component.chars().any(|c| c.is_ascii_uppercase())
}

fn normalize_docker_hub(registry: Option<&str>, path: &str) -> (String, String) {
    match registry {
        None | Some("docker.io") | Some("index.docker.io") => {
            let repository = if path.contains('/') {
                path.to_string()
            } else {
                format!("library/{path}")
            };
            (DOCKER_HUB.to_string(), repository)
        }
        // Host names are case-insensitive; compare them in one case. A single-label host
        // that reads as a registry only by its capitals (`A/b`) keeps them: in lower case
        // its name would read as a Docker Hub repository (found by engine/tests/fuzz.rs).
        Some(host) => {
            let lower = host.to_ascii_lowercase();
            let host = if looks_like_registry(&lower) {
                lower
            } else {
                host.to_string()
            };
            (host, path.to_string())
        }
    }
}

fn validate_registry(host: &str) -> Result<(), String> {
    let (hostname, port) = if let Some(inner) = host.strip_prefix('[') {
        // IPv6 literal: `[::1]:5000`
        let Some((addr, after)) = inner.split_once(']') else {
            return Err(format!("registry `{host}` has an unclosed `[`"));
        };
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(format!("registry `{host}` is not a valid IPv6 address"));
        }
        match after.strip_prefix(':') {
            Some(port) => (None, Some(port)),
            None if after.is_empty() => (None, None),
            None => return Err(format!("registry `{host}` has junk after `]`")),
        }
    } else {
        match host.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(host), None),
        }
    };
    if let Some(hostname) = hostname {
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if !hostname.split('.').all(label_ok) {
            return Err(format!(
                "registry host `{hostname}` is not a valid host name"
            ));
        }
    }
    if let Some(port) = port
        && (port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) || port.len() > 5)
    {
        return Err(format!("registry port `{port}` is not a number"));
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn validate_path_component(component: &str) -> Result<(), String> {
    if component.is_empty() {
        return Err("the repository path has an empty component".into());
    }
    if component.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "repository component `{component}` must be lowercase"
        ));
    }
    let bytes = component.as_bytes();
    let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return Err(format!(
            "repository component `{component}` must start and end with a letter or digit"
        ));
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if is_alnum(b) {
            i += 1;
            continue;
        }
        let sep_start = i;
        while i < bytes.len() && !is_alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[sep_start..i];
        let valid_sep = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-');
        if !valid_sep {
            return Err(format!(
                "repository component `{component}` has the invalid separator `{sep}`"
            ));
        }
    }
    Ok(())
}

/// `[\w][\w.-]{0,127}`
fn validate_tag(tag: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    match chars.next() {
        None => Err("the tag after `:` is empty".into()),
        Some(first) if !word(first) => Err(format!(
            "tag `{tag}` must start with a letter, digit or `_`"
        )),
        Some(_) if tag.len() > TAG_MAX_LEN => Err(format!(
            "tag `{tag}` is longer than {TAG_MAX_LEN} characters"
        )),
        Some(_) => match chars.find(|&c| !(word(c) || c == '.' || c == '-')) {
            Some(c) => Err(format!("tag `{tag}` contains the character `{c}`")),
            None => Ok(()),
        },
    }
}

/// `algorithm:encoded`, with the lengths of the registered algorithms checked.
fn validate_digest(digest: &str) -> Result<(), String> {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return Err(format!("digest `{digest}` has no `algorithm:` prefix"));
    };
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !algorithm_ok {
        return Err(format!("digest algorithm `{algorithm}` is not valid"));
    }
    let expected_hex_len = match algorithm {
        "sha256" => Some(64),
        "sha512" => Some(128),
        _ => None,
    };
    match expected_hex_len {
        Some(len) => {
            if encoded.len() != len
                || !encoded
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            {
                return Err(format!(
                    "a {algorithm} digest must be {len} lowercase hex characters"
                ));
            }
        }
        None => {
            if encoded.len() < 32
                || !encoded
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '=' | '_' | '-'))
            {
                return Err(format!("digest `{digest}` has an invalid encoded part"));
            }
        }
    }
    Ok(())
}

/// An image pattern from settings or exemptions, normalized like an image reference.
///
/// * `*` matches any characters, `/` included; `?` one character.
/// * A pattern naming a Docker Hub image is normalized: `nginx` is `docker.io/library/nginx`,
///   `team/` is `docker.io/team/`. A pattern starting with `*` or naming a registry host is
///   taken as written.
/// * A trailing `/` means everything below that path: `registry.io/` admits
///   `registry.io/app` but never `registry.io.evil.com/app`.
/// * A pattern whose last component has a `:`, or that has an `@`, also matches the tag and
///   digest; an image with neither reads `:latest`.
#[derive(Debug, Clone)]
pub struct ImagePattern {
    matches_tag: bool,
    /// The normalized pattern as a glob, kept so pattern sets can reuse it.
    glob: Glob,
    matcher: GlobMatcher,
    /// When the pattern names a registry host, the image's registry alone must match it, so
    /// `*.company.com/` never admits `evil.io/x.company.com/app` through a `*` that spans `/`.
    host: Option<GlobMatcher>,
}

impl ImagePattern {
    pub fn new(pattern: &str) -> Result<ImagePattern, String> {
        let trimmed = pattern.trim();
        if trimmed.is_empty() {
            return Err("image pattern is empty".into());
        }
        let last_component = trimmed
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("");
        let matches_tag = trimmed.contains('@') || last_component.contains(':');
        let mut normalized = normalize_pattern(trimmed);
        if normalized.ends_with('/') {
            normalized.push('*');
        }
        let host = match normalized.split_once('/') {
            Some((first, _)) if looks_like_registry(first) => {
                Some(image_glob(pattern, &first.to_ascii_lowercase())?.compile_matcher())
            }
            _ => None,
        };
        let glob = image_glob(pattern, &normalized)?;
        Ok(ImagePattern {
            matcher: glob.compile_matcher(),
            glob,
            matches_tag,
            host,
        })
    }

    pub fn matches(&self, image: &ImageRef) -> bool {
        if self
            .host
            .as_ref()
            .is_some_and(|host| !host.is_match(&image.registry))
        {
            return false;
        }
        if self.matches_tag {
            self.matcher.is_match(image.full_name())
        } else {
            self.matcher.is_match(&image.name)
        }
    }
}

/// Several image patterns matched in one pass: an image matches the set when it matches any
/// of them. Built once per distinct list (settings are the same for every workload).
#[derive(Debug, Clone)]
pub struct ImagePatternSet {
    patterns: Vec<ImagePattern>,
    /// Patterns matched against the name, and those matched with tag and digest; `None`
    /// when the combined automaton would be too large, and each pattern is tried in turn.
    by_name: Option<(GlobSet, Vec<usize>)>,
    by_full_name: Option<(GlobSet, Vec<usize>)>,
}

impl ImagePatternSet {
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<ImagePatternSet, String> {
        let patterns: Vec<ImagePattern> = patterns
            .into_iter()
            .map(ImagePattern::new)
            .collect::<Result<_, _>>()?;
        let build = |with_tag: bool| -> Option<(GlobSet, Vec<usize>)> {
            let mut builder = GlobSetBuilder::new();
            let mut indices = Vec::new();
            for (i, p) in patterns
                .iter()
                .enumerate()
                .filter(|(_, p)| p.matches_tag == with_tag)
            {
                builder.add(p.glob.clone());
                indices.push(i);
            }
            // Tens of thousands of patterns exceed the automaton's size limit; matching
            // them one by one is slower but gives the same answer.
            builder.build().ok().map(|set| (set, indices))
        };
        Ok(ImagePatternSet {
            by_name: build(false),
            by_full_name: build(true),
            patterns,
        })
    }

    pub fn matches(&self, image: &ImageRef) -> bool {
        let host_ok = |i: usize| {
            self.patterns[i]
                .host
                .as_ref()
                .is_none_or(|host| host.is_match(&image.registry))
        };
        let (Some(by_name), Some(by_full_name)) = (&self.by_name, &self.by_full_name) else {
            return self.patterns.iter().any(|p| p.matches(image));
        };
        let (set, indices) = by_name;
        if set
            .matches(&image.name)
            .into_iter()
            .any(|m| host_ok(indices[m]))
        {
            return true;
        }
        let (set, indices) = by_full_name;
        !set.is_empty()
            && set
                .matches(image.full_name())
                .into_iter()
                .any(|m| host_ok(indices[m]))
    }
}

/// `*` spans `/` in image patterns; `\` escapes.
fn image_glob(pattern: &str, glob: &str) -> Result<Glob, String> {
    crate::glob::build(glob).map_err(|e| {
        format!(
            "image pattern `{}` is not a valid glob: {e}",
            crate::glob::shown(pattern)
        )
    })
}

fn normalize_pattern(pattern: &str) -> String {
    match pattern.split_once('/') {
        Some((first, rest)) if looks_like_registry(first) => {
            let host = first.to_ascii_lowercase();
            if host == "docker.io" || host == "index.docker.io" {
                docker_hub_pattern(rest)
            } else {
                format!("{host}/{rest}")
            }
        }
        _ if pattern.starts_with('*') => pattern.to_string(),
        _ => docker_hub_pattern(pattern),
    }
}

fn docker_hub_pattern(path: &str) -> String {
    // `nginx`, `nginx:1.25`, `nginx*` name official images; `team/…` a user namespace.
    if path.contains('/') {
        format!("{DOCKER_HUB}/{path}")
    } else {
        format!("{DOCKER_HUB}/library/{path}")
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_host_that_is_one_only_by_its_capitals_keeps_them_in_the_name() {
        let parsed = ImageRef::parse("A/a").unwrap();
        assert_eq!(parsed.name, "A/a");
        assert_eq!(ImageRef::parse(&parsed.name).unwrap().name, "A/a");
        assert_eq!(
            ImageRef::parse("Reg.Example.COM/a").unwrap().name,
            "reg.example.com/a"
        );
    }

    #[test]
    fn pattern_sets_match_with_or_without_their_automaton() {
        let patterns: Vec<String> = (0..200)
            .map(|i| format!("registry-{i}.example.com/"))
            .chain([
                "docker.io/library/nginx:1.*".to_string(),
                "ghcr.io/acme/*".to_string(),
            ])
            .collect();
        let with = ImagePatternSet::new(patterns.iter().map(String::as_str)).unwrap();
        let without = ImagePatternSet {
            by_name: None,
            by_full_name: None,
            ..with.clone()
        };
        for image in [
            "registry-7.example.com/app:1",
            "registry-7.example.com.evil.io/app",
            "nginx:1.27",
            "nginx:latest",
            "ghcr.io/acme/tool@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "ghcr.io/other/tool",
        ] {
            let image = ImageRef::parse(image).unwrap();
            assert_eq!(with.matches(&image), without.matches(&image), "{image:?}");
        }
    }
    use super::*;

    fn parse(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn docker_hub_short_names_are_normalized() {
        let r = parse("nginx");
        assert_eq!(r.name, "docker.io/library/nginx");
        assert_eq!(r.tag, None);
        assert_eq!(r.effective_tag(), Some("latest"));
        assert_eq!(parse("index.docker.io/x").name, "docker.io/library/x");
        assert_eq!(parse("docker.io/team/app:1").name, "docker.io/team/app");
        assert_eq!(parse("team/app").name, "docker.io/team/app");
    }

    #[test]
    fn registry_with_port_has_no_tag() {
        let r = parse("registry:5000/app");
        assert_eq!(r.registry, "registry:5000");
        assert_eq!(r.repository, "app");
        assert_eq!(r.tag, None);
        let r = parse("localhost/app:1.0");
        assert_eq!(r.registry, "localhost");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(parse("[::1]:5000/a/b:v").registry, "[::1]:5000");
    }

    #[test]
    fn tags_and_digests() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("ghcr.io/org/app:1.2@{digest}"));
        assert_eq!(r.tag.as_deref(), Some("1.2"));
        assert_eq!(r.digest.as_deref(), Some(digest.as_str()));
        let r = parse(&format!("app@{digest}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.effective_tag(), None);
        assert_eq!(r.full_name(), format!("docker.io/library/app@{digest}"));
    }

    #[test]
    fn invalid_references_are_errors() {
        for bad in [
            "",
            "Nginx",
            "nginx:",
            "nginx:-x",
            "nginx@sha256:abc",
            "nginx@sha256",
            "a//b",
            "a b",
            "-a",
            "a:1:2",
            "reg:port/app",
            "a/B/c",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn leftovers_of_build_and_template_steps_say_what_they_are() {
        // Shapes found in public repositories' manifests (knative, agent-sandbox, bitnami
        // charts, the GKE samples).
        for (reference, says) in [
            ("ko://knative.dev/serving/cmd/queue", "`ko resolve`"),
            ("{{ include \"nginx.image\" . }}", "`helm template`"),
            (
                "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.Version }}",
                "`helm template`",
            ),
            (
                "gcr.io/${PROJECT_ID}/hello-app:v1",
                "unsubstituted variable",
            ),
            ("$(IMAGE)", "never expands"),
            (
                "us-central1-docker.pkg.dev/<PROJECT_ID>/adk-repo/adk-agent:latest",
                "placeholder",
            ),
            ("<image_url>", "placeholder"),
        ] {
            let error = ImageRef::parse(reference).unwrap_err();
            assert!(error.reason.contains(says), "{reference}: {error}");
        }
        // A bracketed IPv6 registry is not a placeholder.
        assert_eq!(parse("[::1]:5000/a/b:v").registry, "[::1]:5000");
    }

    #[test]
    fn patterns_normalize_like_images() {
        let m = |p: &str, i: &str| ImagePattern::new(p).unwrap().matches(&parse(i));
        assert!(m("nginx", "nginx:1.25"));
        assert!(m("nginx", "docker.io/library/nginx"));
        assert!(!m("nginx", "team/nginx"));
        assert!(m("team/", "team/app"));
        assert!(!m("team/", "teamx/app"));
        assert!(m("registry.io/", "registry.io/x/y"));
        assert!(!m("registry.io/", "registry.io.evil.com/x"));
        assert!(m("*.io/", "quay.io/x"));
        assert!(m("*.*/nginx", "nginx"));
        assert!(m("registry.company.com/*", "registry.company.com/a/b:1"));
        assert!(m("docker.io/library/*", "busybox"));
        assert!(m("Registry.Company.com/", "registry.company.com/app"));
        assert!(m("registry.company.com/", "Registry.Company.com/app"));
    }

    #[test]
    fn host_wildcards_stay_inside_the_host() {
        let m = |p: &str, i: &str| ImagePattern::new(p).unwrap().matches(&parse(i));
        assert!(m("*.company.com/", "eu.company.com/app"));
        assert!(!m("*.company.com/", "evil.io/x.company.com/app"));
        assert!(!m("*.company.com/*", "evil.io/x.company.com/app"));
        assert!(m("*.*/nginx", "quay.io/nginx"));
        assert!(m("*istio/proxyv2*", "docker.io/istio/proxyv2:1.20"));
    }

    #[test]
    fn pattern_sets_agree_with_single_patterns() {
        let patterns = [
            "*.company.com/",
            "nginx",
            "ubuntu:20.14",
            "team/",
            "*.*/redis",
            "registry:5000/app:*",
        ];
        let set = ImagePatternSet::new(patterns).unwrap();
        for image in [
            "eu.company.com/a",
            "evil.io/x.company.com/app",
            "nginx:1",
            "ubuntu:20.14",
            "ubuntu",
            "team/x",
            "teamx/y",
            "quay.io/redis",
            "registry:5000/app:2",
            "registry:5000/app",
            "busybox",
        ] {
            let parsed = parse(image);
            let any = patterns
                .iter()
                .any(|p| ImagePattern::new(p).unwrap().matches(&parsed));
            assert_eq!(set.matches(&parsed), any, "{image}");
        }
    }

    #[test]
    fn patterns_with_tags_match_tags() {
        let m = |p: &str, i: &str| ImagePattern::new(p).unwrap().matches(&parse(i));
        assert!(m("ubuntu:20.14", "ubuntu:20.14"));
        assert!(!m("ubuntu:20.14", "ubuntu:22.04"));
        assert!(m("ubuntu:latest", "ubuntu"));
        assert!(m("registry:5000/app", "registry:5000/app:1"));
        assert!(m("registry:5000/app:*", "registry:5000/app:1"));
    }
}
