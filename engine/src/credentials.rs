//! Credential detection: is this environment variable a hard-coded credential, a placeholder
//! for one, or something else? And which known key formats does this text contain?
//!
//! Two entry points, both pure functions of their input (no I/O, no state):
//!
//! | function | input | answer |
//! |---|---|---|
//! | [`classify`] | one `(name, value)` pair: a Kubernetes `env` entry, a compose `environment` entry, an image `ENV` | a [`Verdict`]: [`NotSecret`](Verdict::NotSecret), [`Placeholder`](Verdict::Placeholder) or [`Secret`](Verdict::Secret), with the reason in words |
//! | [`scan_text`] | free text: an `ENV` value, a file from an image layer | every known key format in it, as [`KeyMatch`]es (kind and byte range) |
//!
//! [`credential_word`] tells what a variable's name says it holds (`"password"`, `"token"`, …),
//! without looking at a value.
//!
//! Reasons and kinds never contain the value, so they can go into findings, logs and facts
//! files as they are.
//!
//! # How a pair is classified
//!
//! 1. **Key formats first, whatever the name.** A value containing a known key format (AWS
//!    access key ID, PEM private key, GitHub/GitLab/Slack/Stripe/SendGrid/npm/PyPI/OpenAI/
//!    Anthropic/Hugging Face tokens, Google service-account keys, JSON Web Tokens, a URL or
//!    connection string with a password, … see [`scan_text`]) is a `Secret`, also when the value
//!    is base64 of such text. A match whose body is filler (`ghp_xxxx…`, `T00000000`) or a
//!    vendor's documented example (`AKIAIOSFODNN7EXAMPLE`) is a `Placeholder`; a URL whose
//!    password is a reference (`$(DB_PASSWORD)`) does not count.
//! 2. **The name.** It is split into segments on `_`, `-`, `.` and camelCase changes
//!    (`dbPassword` -> `DB` `PASSWORD`), and must contain a credential word:
//!    `PASSWORD`, `PASSWD`, `PASSPHRASE`, `SECRET`, `TOKEN` (not `TOKENS`), `APIKEY`,
//!    `CREDENTIAL(S)`, `CREDS`, `SALT`, also at the end of a segment (`PGPASSWORD`,
//!    `CLIENTSECRET`); `<X>_KEY` for `X` in `API`, `ACCESS`, `SECRET`, `PRIVATE`, `SIGNING`,
//!    `ENCRYPTION`, `MASTER`, `LICENSE`, `SESSION`, `WEBHOOK`, … (not `PUBLIC_KEY`, `GPG_KEY`);
//!    and, as the last segment only, `PASS`, `PWD`, `PW` and `AUTH` (`DB_PASS`, `MYSQL_PWD`,
//!    `REDIS_AUTH`; never the whole name, so the shell's `PWD` stays quiet). A name whose
//!    credential word is followed by a qualifier is about something else: `_FILE`, `_PATH`,
//!    `_DIR`, `_URL`, `_NAME`, `_ID`, `_VERSION`, `_TTL`, `_TIMEOUT`, `_LENGTH`, `_TYPE`,
//!    `_ENABLED`, … (but `ACCESS_KEY_ID` is half of a key pair); so is one with a flag word
//!    just before it (`ALLOW_EMPTY_PASSWORD`, `RANDOM_ROOT_PASSWORD`, `GENERATE_`, `SKIP_`…).
//! 3. **The value of a credential-named variable.** References are `NotSecret`:
//!    `$(VAR)`, `${VAR}`, `$VAR`, `{{ template }}`, or any mix of them with punctuation; for
//!    `${VAR:-default}` the default is judged as the value. Then placeholders (below). Then
//!    shapes that are not credentials: empty, booleans and `0/1/on/off/none`, paths, URLs
//!    without a password, durations (`30s`), sizes (`512Mi`), numbers (but a password of four or
//!    more digits is one), certificates and public keys, Stripe publishable keys, and for
//!    `AUTH` names the name of a method (`trust`, `basic`). Anything else is a `Secret`: the
//!    reason says whether the literal is a well-known default, random-looking, or neither.
//!
//! # Placeholders, and what is *not* one
//!
//! A placeholder is a value that says it is not the real thing: `changeme`, `changeit`,
//! `<your-token>`, `your_api_key_here`, `REPLACE_ME`, `INSERT_TOKEN`, `xxx`, `********`, `...`,
//! `TODO`, `dummy`, `example` (also `examplepass`, `example_123`), `placeholder`, `__SECRET__`,
//! the variable's own name (`HF_TOKEN: HF_TOKEN`, `API_KEY: API_KEY_VAL`), an upper-case
//! identifier naming a credential (`PASSWORD`), a key prefix followed by a stand-in
//! (`sk-ant-api03-PLACEHOLDER`, `nvapi-NVKEY`), and filler or documented examples in a key format.
//!
//! A weak literal is **not** a placeholder: `RABBITMQ_DEFAULT_PASS: password`,
//! `POSTGRES_PASSWORD: postgres`, `MYSQL_ROOT_PASSWORD: root` or `test` configure a service
//! that accepts exactly that password. They are `Secret`s (the reason says "a well-known
//! default"), because the right advice is the same as for a strong one, and more urgent: the
//! value is known to everyone.
//!
//! # Limits
//!
//! Values longer than [`MAX_VALUE_LEN`] and texts longer than [`MAX_TEXT_LEN`] are looked at
//! up to that length; names beyond 256 bytes are cut. Base64 is decoded once, not
//! recursively, and only up to [`MAX_VALUE_LEN`] of input; nested `${A:-${B:-…}}` defaults are
//! looked through four deep. Regexes are compiled once (`LazyLock`). No input makes these
//! functions panic.
//!
//! # Accuracy
//!
//! `engine/tests/credentials_accuracy.rs` runs [`classify`] over the hand-labelled set in
//! `tests/fixtures/secrets/` (1,374 variables from 44 public repositories and synthetic keys)
//! and fails below precision 0.97 or recall 0.95; `docs/benchmarks.md` compares it with
//! detect-secrets and secretlint. Variables it had not seen scored precision 0.964, recall
//! 1.000 at first contact.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// How much of a value [`classify`] looks at, in bytes.
pub const MAX_VALUE_LEN: usize = 64 * 1024;
/// How much of a text [`scan_text`] looks at, in bytes.
pub const MAX_TEXT_LEN: usize = 4 * 1024 * 1024;
const MAX_NAME_LEN: usize = 256;
/// At most this many matches are returned by [`scan_text`]; one is enough to report a file.
const MAX_MATCHES: usize = 256;
/// How many `${A:-${B:-…}}` defaults [`classify`] looks through.
const MAX_NESTED_DEFAULTS: usize = 4;

/// What [`classify`] says about one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not a credential: the name does not say it holds one and the value has no key format, or
    /// the value is a reference, a path, a flag, a number, empty, ….
    NotSecret,
    /// A stand-in for a credential (`changeme`, `<your-token>`, the name repeated, a vendor's
    /// documented example key). Nothing to revoke; the real value still has to come from a
    /// Secret.
    Placeholder {
        /// Why, in words, without the value: "the value says it is an example".
        reason: String,
    },
    /// A hard-coded credential.
    Secret {
        /// What it is, lower-case, without an article: `"password"`, `"GitHub token"`,
        /// `"URL with an embedded password"`.
        kind: &'static str,
        /// Why, in words, without the value: "the value contains a GitHub token".
        reason: String,
    },
}

impl Verdict {
    /// Whether this is a [`Verdict::Secret`].
    pub fn is_secret(&self) -> bool {
        matches!(self, Verdict::Secret { .. })
    }

    /// Whether this is a [`Verdict::Placeholder`].
    pub fn is_placeholder(&self) -> bool {
        matches!(self, Verdict::Placeholder { .. })
    }
}

/// A known key format found by [`scan_text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyMatch {
    /// What it is, lower-case, without an article: `"AWS access key ID"`.
    pub kind: &'static str,
    /// Byte range of the match in the scanned text (for a base64-encoded match, the range of
    /// the whole base64 run).
    pub start: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
    /// Found by decoding a base64 run of the text.
    pub base64: bool,
}

// ---------------------------------------------------------------------------------------------
// Key formats

/// How a format's match is judged.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// The whole match is the key; filler or a documented example makes it a placeholder.
    Whole,
    /// Capture group 1 is a password: a reference does not count, a placeholder is one.
    Password,
}

/// (kind, pattern, check). The first matching entry names the kind, so specific formats come
/// before general ones (a service-account key before the PEM key inside it). Patterns are
/// written from the vendors' published formats: fixed prefix, then the documented length and
/// alphabet, with word boundaries so that longer random strings do not match.
const FORMATS: &[(&str, &str, Check)] = &[
    (
        "Google Cloud service-account key",
        r#""type"\s*:\s*"service_account""#,
        Check::Whole,
    ),
    (
        "private key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        Check::Whole,
    ),
    (
        "AWS access key ID",
        r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
        Check::Whole,
    ),
    (
        "AWS secret access key",
        r"(?i)aws_?secret_?access_?key\s*[=:]\s*[A-Za-z0-9/+]{40}\b",
        Check::Whole,
    ),
    (
        "GitHub token",
        r"\bgh[pousr]_[A-Za-z0-9]{36}\b",
        Check::Whole,
    ),
    (
        "GitHub token",
        r"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b",
        Check::Whole,
    ),
    (
        "GitLab token",
        r"\bgl(?:pat|rt|dt|ft|soat|cbt)-[A-Za-z0-9_-]{20,}",
        Check::Whole,
    ),
    ("GitLab token", r"\bglptt-[0-9a-f]{40}\b", Check::Whole),
    (
        "Slack token",
        r"\bxox[abposre]-[0-9]{6,}-[A-Za-z0-9-]{8,}",
        Check::Whole,
    ),
    (
        "Slack webhook URL",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,}",
        Check::Whole,
    ),
    (
        "Stripe secret key",
        r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{20,}\b",
        Check::Whole,
    ),
    (
        "Stripe webhook secret",
        r"\bwhsec_[A-Za-z0-9+/]{24,}",
        Check::Whole,
    ),
    (
        "SendGrid API key",
        r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b",
        Check::Whole,
    ),
    ("npm token", r"\bnpm_[A-Za-z0-9]{36}\b", Check::Whole),
    (
        "PyPI token",
        r"\bpypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{40,}",
        Check::Whole,
    ),
    (
        "Anthropic API key",
        r"\bsk-ant-(?:api|admin|oat|sid)\d{2}-[A-Za-z0-9_-]{32,}",
        Check::Whole,
    ),
    (
        "OpenAI API key",
        r"\bsk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40,}",
        Check::Whole,
    ),
    (
        "OpenAI API key",
        r"\bsk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}\b",
        Check::Whole,
    ),
    (
        "Hugging Face token",
        r"\bhf_[A-Za-z0-9]{34,40}\b",
        Check::Whole,
    ),
    ("Google API key", r"\bAIza[0-9A-Za-z_-]{35}\b", Check::Whole),
    (
        "Google OAuth client secret",
        r"\bGOCSPX-[0-9A-Za-z_-]{28}\b",
        Check::Whole,
    ),
    (
        "JSON Web Token",
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}",
        Check::Whole,
    ),
    (
        "Azure storage or Service Bus key",
        r"(?i)\b(?:AccountKey|SharedAccessKey)\s*=\s*[A-Za-z0-9+/]{30,}={0,2}",
        Check::Whole,
    ),
    (
        "Docker Hub token",
        r"\bdckr_pat_[A-Za-z0-9_-]{27}\b",
        Check::Whole,
    ),
    ("Vault token", r"\bhv[sb]\.[A-Za-z0-9_-]{90,}", Check::Whole),
    (
        "Shopify token",
        r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b",
        Check::Whole,
    ),
    (
        "DigitalOcean token",
        r"\bdo[opr]_v1_[a-f0-9]{64}\b",
        Check::Whole,
    ),
    (
        "Telegram bot token",
        r"\b[0-9]{8,10}:AA[A-Za-z0-9_-]{33}\b",
        Check::Whole,
    ),
    (
        "NVIDIA API key",
        r"\bnvapi-[A-Za-z0-9_-]{60,}",
        Check::Whole,
    ),
    (
        "New Relic key",
        r"\bNR(?:AK|AA|II|JS)-[A-Z0-9]{27}\b",
        Check::Whole,
    ),
    (
        "Grafana service-account token",
        r"\bglsa_[A-Za-z0-9]{32}_[0-9a-f]{8}\b",
        Check::Whole,
    ),
    (
        "Postman API key",
        r"\bPMAK-[0-9a-f]{24}-[0-9a-f]{34}\b",
        Check::Whole,
    ),
    (
        "URL with an embedded password",
        r"\b[A-Za-z][A-Za-z0-9+.-]{1,30}://[^\s/?#@:'\x22]*:([^\s/?#@'\x22]+)@[^\s/@]",
        Check::Password,
    ),
    (
        "connection string with a password",
        r"(?i)\b(?:server|data source|host|address|addr)\s*=\s*[^;]+;(?:[^;]*;)*?\s*(?:password|pwd)\s*=\s*([^;'\x22\s]+)",
        Check::Password,
    ),
];

static FORMAT_SET: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(FORMATS.iter().map(|(_, pattern, _)| pattern)).expect("key formats compile")
});

static FORMAT_REGEXES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    FORMATS
        .iter()
        .map(|(_, pattern, _)| Regex::new(pattern).expect("key formats compile"))
        .collect()
});

/// Runs of base64 long enough to hold a key worth decoding.
static BASE64_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9+/_-]{48,}={0,2}").expect("base64 run compiles"));

/// What a format match turned out to be.
enum FormatHit {
    Real(KeyMatch),
    Filler { kind: &'static str, example: bool },
}

/// Every format match in `text` (already bounded), without decoding base64.
fn format_hits(text: &str, out: &mut Vec<FormatHit>) {
    if !FORMAT_SET.is_match(text) {
        return;
    }
    for index in FORMAT_SET.matches(text).iter() {
        let (kind, _, check) = FORMATS[index];
        let regex = &FORMAT_REGEXES[index];
        for captures in regex.captures_iter(text) {
            if out.len() >= MAX_MATCHES {
                return;
            }
            let Some(whole) = captures.get(0) else {
                continue;
            };
            let hit = KeyMatch {
                kind,
                start: whole.start(),
                end: whole.end(),
                base64: false,
            };
            match check {
                Check::Whole => {
                    let matched = whole.as_str();
                    if let Some(example) = filler(matched) {
                        out.push(FormatHit::Filler { kind, example });
                    } else {
                        out.push(FormatHit::Real(hit));
                    }
                }
                Check::Password => {
                    let password = captures.get(1).map_or("", |m| m.as_str());
                    if password.is_empty() || is_reference(password) {
                        continue;
                    }
                    if placeholder_reason("", password).is_some() {
                        out.push(FormatHit::Filler {
                            kind,
                            example: false,
                        });
                    } else {
                        out.push(FormatHit::Real(hit));
                    }
                }
            }
        }
    }
}

/// Format matches in `text`, and in any long base64 run of it, decoded once.
fn all_hits(text: &str) -> Vec<FormatHit> {
    let mut hits = Vec::new();
    format_hits(text, &mut hits);
    let mut decoded_budget = MAX_VALUE_LEN;
    for run in BASE64_RUN.find_iter(text) {
        if hits.len() >= MAX_MATCHES || decoded_budget == 0 {
            break;
        }
        let encoded = &run.as_str()[..run.len().min(decoded_budget)];
        decoded_budget -= encoded.len();
        let Some(bytes) = decode_base64(encoded) else {
            continue;
        };
        let printable = bytes
            .iter()
            .filter(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
            .count();
        if bytes.is_empty() || printable * 10 < bytes.len() * 9 {
            continue;
        }
        let decoded = String::from_utf8_lossy(&bytes);
        let mut inner = Vec::new();
        format_hits(&decoded, &mut inner);
        for hit in inner {
            hits.push(match hit {
                FormatHit::Real(key) => FormatHit::Real(KeyMatch {
                    kind: key.kind,
                    start: run.start(),
                    end: run.end(),
                    base64: true,
                }),
                filler => filler,
            });
        }
    }
    hits
}

/// Every known key format in `text`: keys, tokens, private keys, URLs and connection strings
/// with a password, also inside base64 runs (decoded once). Filler (`ghp_xxxx…`) and vendors'
/// documented example keys are left out, and so are URLs whose password is a reference.
/// Only the first [`MAX_TEXT_LEN`] bytes are scanned, and at most 256 matches are returned, in
/// the order of the format list, then of position.
pub fn scan_text(text: &str) -> Vec<KeyMatch> {
    let text = truncate(text, MAX_TEXT_LEN);
    all_hits(text)
        .into_iter()
        .filter_map(|hit| match hit {
            FormatHit::Real(key) => Some(key),
            FormatHit::Filler { .. } => None,
        })
        .collect()
}

/// Whether a key-format match is filler or a documented example rather than a key:
/// `Some(true)` for an example, `Some(false)` for filler, `None` for a key.
fn filler(matched: &str) -> Option<bool> {
    let lower = matched.to_ascii_lowercase();
    if lower.contains("example") {
        return Some(true);
    }
    let mut run = 1;
    let mut longest = 1;
    let bytes = matched.as_bytes();
    for pair in bytes.windows(2) {
        if pair[0] == pair[1] && pair[0].is_ascii_alphanumeric() {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 1;
        }
    }
    if longest >= 8 {
        return Some(false);
    }
    let mut distinct: Vec<u8> = bytes.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    (matched.len() >= 16 && distinct.len() <= 5).then_some(false)
}

/// Standard or URL-safe base64, padding optional; `None` if `text` is not base64.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Names

/// Credential words that form one segment (or end one, when `suffix` is set).
/// (word, kind, suffix, last segment only)
const WORDS: &[(&str, &str, bool, bool)] = &[
    ("PASSWORD", "password", true, false),
    ("PASSWD", "password", true, false),
    ("PASSPHRASE", "password", true, false),
    ("SECRET", "secret", true, false),
    ("TOKEN", "token", true, false),
    ("APIKEY", "API key", true, false),
    ("ACCESSKEY", "access key", true, false),
    ("SECRETKEY", "secret", true, false),
    ("PRIVATEKEY", "private key", true, false),
    ("CREDENTIAL", "credential", false, false),
    ("CREDENTIALS", "credential", false, false),
    ("CREDS", "credential", false, false),
    ("SALT", "salt", false, false),
    ("PASS", "password", false, true),
    ("PWD", "password", false, true),
    ("PW", "password", false, true),
    ("AUTH", "password", false, true),
];

/// `<X>_KEY` pairs: (X, kind).
const KEY_PAIRS: &[(&str, &str)] = &[
    ("API", "API key"),
    ("ACCESS", "access key"),
    ("SECRET", "secret"),
    ("PRIVATE", "private key"),
    ("PRIV", "private key"),
    ("SSH", "private key"),
    ("DEPLOY", "private key"),
    ("SIGNING", "signing key"),
    ("SIGN", "signing key"),
    ("ENCRYPTION", "encryption key"),
    ("ENCRYPT", "encryption key"),
    ("ENC", "encryption key"),
    ("CIPHER", "encryption key"),
    ("AUTH", "key"),
    ("MASTER", "key"),
    ("LICENSE", "license key"),
    ("APPLICATION", "key"),
    ("APP", "key"),
    ("CONSUMER", "key"),
    ("SESSION", "key"),
    ("COOKIE", "key"),
    ("HMAC", "key"),
    ("JWT", "key"),
    ("WEBHOOK", "key"),
    ("SERVICE", "key"),
    ("ROLE", "key"),
    ("ADMIN", "key"),
    ("ROOT", "key"),
    ("SHARED", "key"),
    ("INGEST", "key"),
    ("ACCOUNT", "key"),
    ("STORAGE", "key"),
];

/// Segments after the credential word that make the name about something else: where the
/// credential is, what it is called, how long it lives, how it is checked.
const QUALIFIERS: &[&str] = &[
    "FILE",
    "FILES",
    "FILENAME",
    "PATH",
    "PATHS",
    "DIR",
    "DIRECTORY",
    "FOLDER",
    "LOCATION",
    "URL",
    "URLS",
    "URI",
    "ENDPOINT",
    "HOST",
    "HOSTNAME",
    "PORT",
    "ADDR",
    "ADDRESS",
    "SOCK",
    "SOCKET",
    "NAME",
    "NAMES",
    "ID",
    "IDS",
    "UID",
    "VERSION",
    "REF",
    "ARN",
    "TTL",
    "TIMEOUT",
    "EXPIRY",
    "EXPIRATION",
    "EXPIRES",
    "EXPIRE",
    "LIFETIME",
    "DURATION",
    "INTERVAL",
    "PERIOD",
    "AGE",
    "SECONDS",
    "SECS",
    "SEC",
    "MS",
    "MILLIS",
    "MINUTES",
    "MINS",
    "HOURS",
    "DAYS",
    "ROTATION",
    "LENGTH",
    "LEN",
    "SIZE",
    "BITS",
    "COUNT",
    "LIMIT",
    "MIN",
    "MAX",
    "ROUNDS",
    "ITERATIONS",
    "STRENGTH",
    "COMPLEXITY",
    "ENABLED",
    "ENABLE",
    "DISABLED",
    "DISABLE",
    "REQUIRED",
    "REQUIRE",
    "TYPE",
    "KIND",
    "MODE",
    "METHOD",
    "PROVIDER",
    "BACKEND",
    "STORE",
    "ENGINE",
    "SOURCE",
    "MANAGER",
    "POLICY",
    "FORMAT",
    "ENCODING",
    "ALGORITHM",
    "ALGO",
    "ALG",
    "SCHEME",
    "HEADER",
    "PARAM",
    "FIELD",
    "PREFIX",
    "SUFFIX",
    "TEMPLATE",
    "PATTERN",
    "REGEX",
    "CONNECTOR",
    "AUDIENCE",
    "ISSUER",
    "SCOPE",
    "SCOPES",
    "USER",
    "USERNAME",
    "LOGIN",
    "EMAIL",
    "OWNER",
    "GROUP",
    "PROJECT",
    "REGION",
    "NAMESPACE",
    "MOUNT",
    "SUBJECT",
    "CLAIM",
    "LABEL",
    "SELECTOR",
    "MTIME",
];

/// Flag words just before the credential word: the variable switches something about the
/// credential rather than holding it (`ALLOW_EMPTY_PASSWORD`, `RANDOM_ROOT_PASSWORD`).
const MODIFIERS: &[&str] = &[
    "ALLOW", "RANDOM", "GENERATE", "EMPTY", "NO", "SKIP", "REQUIRE", "USE", "ENABLE", "DISABLE",
    "FORCE", "UPDATE", "SECURE", "HAS", "IS", "WITHOUT",
];

/// Words before `PASS` that make it nginx's `<protocol>_pass` directive, an upstream address
/// (`DD_UWSGI_PASS=uwsgi_server` in DefectDojo's nginx image).
const PASS_DIRECTIVES: &[&str] = &["PROXY", "UWSGI", "FASTCGI", "SCGI", "GRPC", "MEMCACHED"];

/// A name's segments, upper-cased: split on anything not alphanumeric and on camelCase
/// changes (`dbPassword`, `APIKey`, `OAuth2Token`).
fn segments(name: &str) -> Vec<String> {
    let name = truncate(name, MAX_NAME_LEN);
    let chars: Vec<char> = name.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if !current.is_empty() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            let boundary = (prev.is_ascii_lowercase() && c.is_ascii_uppercase())
                || ((prev.is_ascii_uppercase() || prev.is_ascii_digit())
                    && c.is_ascii_uppercase()
                    && next_lower);
            if boundary {
                out.push(std::mem::take(&mut current));
            }
        }
        current.push(c.to_ascii_uppercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Where in a name its credential word is.
struct NameHit {
    kind: &'static str,
    /// The word as found (`PASSWORD`, `API_KEY`), for reasons.
    word: String,
    /// Index of its first and last segment.
    first: usize,
    last: usize,
    /// `AUTH` names hold a password, or the name of a method (`AUTH: basic`).
    auth: bool,
}

/// The credential word of a name split into `segs`: the right-most one, unless a qualifier
/// follows it or a flag word precedes it, in which case the name holds no credential.
fn name_hit(segs: &[String]) -> Option<NameHit> {
    if segs.len() == 1 && matches!(segs[0].as_str(), "PWD" | "PW" | "PASS" | "AUTH") {
        return None;
    }
    let mut found: Option<NameHit> = None;
    for (i, seg) in segs.iter().enumerate() {
        if let Some(next) = segs.get(i + 1)
            && next == "KEY"
            && let Some((_, kind)) = KEY_PAIRS.iter().find(|(first, _)| first == seg)
        {
            found = Some(NameHit {
                kind,
                word: format!("{seg}_KEY"),
                first: i,
                last: i + 1,
                auth: false,
            });
            continue;
        }
        let is_last = i + 1 == segs.len();
        for &(word, kind, suffix, last_only) in WORDS {
            let hit = seg == word || (suffix && seg.len() > word.len() && seg.ends_with(word));
            if hit && (!last_only || is_last) {
                found = Some(NameHit {
                    kind,
                    word: seg.clone(),
                    first: i,
                    last: i,
                    auth: word == "AUTH",
                });
                break;
            }
        }
    }
    let hit = found?;
    let mut after = segs[hit.last + 1..].iter();
    if hit.word == "ACCESS_KEY" && segs.get(hit.last + 1).is_some_and(|s| s == "ID") {
        after.next();
    }
    if after.any(|seg| QUALIFIERS.contains(&seg.as_str())) {
        return None;
    }
    let before = &segs[hit.first.saturating_sub(2)..hit.first];
    if before.iter().any(|seg| MODIFIERS.contains(&seg.as_str())) {
        return None;
    }
    // nginx's `uwsgi_pass`, `proxy_pass`, … name the upstream a request is passed to.
    if hit.word == "PASS"
        && hit.first > 0
        && PASS_DIRECTIVES.contains(&segs[hit.first - 1].as_str())
    {
        return None;
    }
    Some(hit)
}

/// What a variable's name says it holds (`"password"`, `"token"`, `"API key"`, …), or `None`
/// when it names no credential or is about one rather than holding it (`DB_PASSWORD_FILE`,
/// `SECRET_NAME`, `MAX_TOTAL_TOKENS`, `ALLOW_EMPTY_PASSWORD`, `PWD`).
pub fn credential_word(name: &str) -> Option<&'static str> {
    name_hit(&segments(name)).map(|hit| hit.kind)
}

/// "an AWS access key ID", "a PEM private key": a key kind as a message says it.
pub fn with_article(kind: &str) -> String {
    let vowel = kind
        .chars()
        .next()
        .is_some_and(|c| "aeiouAEIOU".contains(c));
    // Initialisms read with a vowel sound ("an SSH key", "an AWS key"; "a URL").
    let initialism_vowel = kind.starts_with("AWS")
        || kind.starts_with("SSH")
        || kind.starts_with("npm")
        || kind.starts_with("RSA")
        || kind.starts_with("SMTP");
    if (vowel && !kind.starts_with("URL")) || initialism_vowel {
        format!("an {kind}")
    } else {
        format!("a {kind}")
    }
}

// ---------------------------------------------------------------------------------------------
// Values

/// `$(VAR)`, `${VAR…}`, `$VAR` (upper-case: `$y7` in a random key is not one), `{{ … }}`,
/// `<no value>`, `%VAR%`.
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\$\([A-Za-z_][A-Za-z0-9_.]*\)|\$\{[A-Za-z_][^{}]*\}|\$[A-Z_][A-Z0-9_]*\b|\{\{.*?\}\}|<no value>|%[A-Za-z_][A-Za-z0-9_]*%",
    )
    .expect("reference pattern compiles")
});

/// `${VAR:-default}`, `${VAR-default}`, `${VAR:=default}` as the whole value.
static DEFAULTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:?[-=](.*)\}$").expect("default pattern compiles")
});

static DURATION_OR_SIZE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?i:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d|w|[kmgtpe]i?b?))$")
        .expect("duration pattern compiles")
});

static UPPER_IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$").expect("identifier pattern compiles")
});

static TEMPLATE_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:<[^<>]+>|\[[^\[\]]+\]|__[A-Za-z0-9_]+__|@[A-Za-z0-9_]+@|\{[A-Za-z_][A-Za-z0-9_]*\})$",
    )
    .expect("marker pattern compiles")
});

/// Whether `value` is made only of references (and punctuation or short glue between them).
fn is_reference(value: &str) -> bool {
    if !REFERENCE.is_match(value) {
        return false;
    }
    let rest = REFERENCE.replace_all(value, " ");
    // What is left around references: punctuation, or a little glue too short to be a
    // credential (`{"default":"$(KEY)"}` leaves `default`, `Bearer ${TOKEN}` leaves `Bearer`).
    rest.chars().filter(char::is_ascii_alphanumeric).count() <= 10
}

/// Words that say a value is a stand-in.
const MARKER_WORDS: &[&str] = &[
    "changeme",
    "change",
    "changeit",
    "replace",
    "replaceme",
    "insert",
    "enter",
    "your",
    "example",
    "examples",
    "sample",
    "dummy",
    "fake",
    "placeholder",
    "redacted",
    "todo",
    "tbd",
    "fixme",
    "notsecure",
    "setme",
    "xxx",
];

/// Prefixes that say the same when glued to the rest (`examplepass`, `yourpassword`).
const MARKER_PREFIXES: &[&str] = &[
    "changeme",
    "changeit",
    "change_",
    "change-",
    "replace",
    "example",
    "sample",
    "dummy",
    "your",
    "placeholder",
    "insert",
    "fake",
    "xxx",
    "set-",
    "set_",
    "setme",
];

/// Prefixes of key formats; one followed by a short or upper-case-word body is a stand-in
/// (`sk-ant-api03-PLACEHOLDER`, `nvapi-NVKEY`, `sk-...`).
const KEY_PREFIXES: &[&str] = &[
    "sk-ant-api03-",
    "sk-ant-oat01-",
    "sk-ant-",
    "sk-proj-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "sk-",
    "ghp_",
    "gho_",
    "ghs_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "hf_",
    "nvapi-",
    "npm_",
    "pypi-",
    "AKIA",
    "AIza",
    "SG.",
    "dckr_pat_",
    "hvs.",
    "shpat_",
    "whsec_",
    "GOCSPX-",
];

/// Words of a value, lower-cased: split on non-alphanumerics, camelCase and letter/digit
/// changes (`notSecureChangeMe` -> `not secure change me`).
fn value_words(value: &str) -> Vec<String> {
    segments(value)
        .into_iter()
        .flat_map(|seg| {
            let mut words = Vec::new();
            let mut current = String::new();
            let mut last_digit = None;
            for c in seg.chars() {
                let digit = c.is_ascii_digit();
                if last_digit.is_some_and(|d| d != digit) {
                    words.push(std::mem::take(&mut current));
                }
                current.push(c.to_ascii_lowercase());
                last_digit = Some(digit);
            }
            words.push(current);
            words
        })
        .collect()
}

/// Why `value` is a placeholder, if it is one. `name` may be empty (a URL's password).
fn placeholder_reason(name: &str, value: &str) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    if (value.len() >= 2 || value == "…") && value.chars().all(|c| c == '.' || c == '…') {
        return Some("the value is an ellipsis".into());
    }
    if TEMPLATE_MARKER.is_match(value) {
        return Some("the value is a template marker that was never filled in".into());
    }
    let mut chars = value.chars();
    if let Some(first) = chars.next()
        && value.chars().count() >= 3
        && chars.all(|c| c == first)
    {
        return Some("the value is filler (one character repeated)".into());
    }
    if !name.is_empty() {
        let normalized: String = value
            .chars()
            .map(|c| {
                if c == '-' || c == '.' {
                    '_'
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        let name_normalized: String = name
            .chars()
            .map(|c| {
                if c == '-' || c == '.' {
                    '_'
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        if normalized == name_normalized
            || ["_VAL", "_VALUE", "_HERE"]
                .iter()
                .any(|s| normalized.strip_suffix(s) == Some(name_normalized.as_str()))
        {
            return Some("the value repeats the variable's name".into());
        }
    }
    if UPPER_IDENTIFIER.is_match(value) {
        let segs = segments(value);
        let names_credential = name_hit(&segs).is_some()
            || segs.iter().any(|s| {
                matches!(
                    s.as_str(),
                    "KEY" | "VAL" | "VALUE" | "HERE" | "REPLACE" | "INSERT" | "CHANGE" | "YOUR"
                )
            });
        if names_credential {
            return Some("the value names a credential instead of giving one".into());
        }
    }
    if lower.contains("example") || value.contains("EXAMPLE") {
        return Some("the value says it is an example".into());
    }
    let words = value_words(value);
    if let Some(word) = words.iter().find(|w| {
        MARKER_WORDS.contains(&w.as_str()) || (w.len() >= 3 && w.bytes().all(|b| b == b'x'))
    }) {
        return Some(format!("the value says it is a stand-in (`{word}`)"));
    }
    if let Some(prefix) = MARKER_PREFIXES.iter().find(|p| lower.starts_with(*p)) {
        let word = prefix.trim_end_matches(['_', '-']);
        return Some(format!("the value says it is a stand-in (`{word}…`)"));
    }
    if let Some(prefix) = KEY_PREFIXES.iter().find(|p| value.starts_with(*p)) {
        let body = &value[prefix.len()..];
        let stand_in = body.len() < 16
            || body
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c == '-' || c == '.');
        if stand_in {
            return Some("the value is a key prefix followed by a stand-in".into());
        }
    }
    None
}

const BOOLEANISH: &[&str] = &[
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "0",
    "1",
    "enabled",
    "disabled",
    "enable",
    "disable",
    "none",
    "null",
    "nil",
    "undefined",
    "~",
    "-",
];

/// What an `AUTH` variable names when it names a method rather than holding a password.
const AUTH_METHODS: &[&str] = &[
    "none",
    "basic",
    "bearer",
    "digest",
    "trust",
    "md5",
    "scram-sha-256",
    "plain",
    "login",
    "oauth",
    "oauth2",
    "oidc",
    "ldap",
    "jwt",
    "token",
    "kerberos",
    "sasl",
    "tls",
    "mtls",
    "iam",
    "anonymous",
    "cert",
    "x509",
    "apikey",
    "api-key",
    "api_key",
    "header",
    "cookie",
    "session",
    "workload_identity",
    "password",
    "ntlm",
    "negotiate",
    "saml",
    "htpasswd",
    "internal",
];

/// Common default or guessable passwords, for the wording of a reason only.
const WELL_KNOWN: &[&str] = &[
    "password", "passw0rd", "admin", "root", "secret", "pass", "test", "guest", "default",
    "postgres", "mysql", "123456", "12345678", "qwerty", "letmein", "toor", "changeit",
];

/// Why a credential-named variable's value is not a credential, if it is not.
fn not_secret_shape(hit: &NameHit, value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    if BOOLEANISH.contains(&lower.as_str()) {
        return true;
    }
    if !value.chars().any(|c| c.is_alphanumeric()) {
        return true;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // A numeric password is still a password, but short numbers are flags and counts.
        return !(hit.kind == "password" && value.len() >= 4);
    }
    if DURATION_OR_SIZE.is_match(value) {
        return true;
    }
    if is_path(value) {
        return true;
    }
    if is_url(value) {
        // A URL with a password was found by the key formats already.
        return true;
    }
    if is_public_material(value) {
        return true;
    }
    if hit.auth && AUTH_METHODS.contains(&lower.as_str()) {
        return true;
    }
    false
}

fn is_path(value: &str) -> bool {
    if value.chars().any(char::is_whitespace) {
        return false;
    }
    // Path segments are words; a long mixed-case segment with digits is a random string
    // that happens to contain `/`, as one base64 key in a few dozen does.
    let random_segment = value.split(['/', '\\']).any(|seg| {
        seg.len() >= 16
            && seg.chars().any(|c| c.is_ascii_uppercase())
            && seg.chars().any(|c| c.is_ascii_lowercase())
            && seg.chars().any(|c| c.is_ascii_digit())
    });
    if random_segment {
        return false;
    }
    let absolute = value.starts_with('/')
        || value.starts_with("./")
        || value.starts_with("../")
        || value.starts_with("~/")
        || value.starts_with("file:")
        || value.as_bytes().get(1..3) == Some(b":\\")
        || value.as_bytes().get(1..3) == Some(b":/");
    if absolute {
        return true;
    }
    // `certs/tls.key`: directories, then a file name with an extension.
    let Some((dirs, file)) = value.rsplit_once('/') else {
        return false;
    };
    let simple = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    dirs.split('/').all(simple)
        && simple(file)
        && file
            .rsplit_once('.')
            .is_some_and(|(stem, ext)| !stem.is_empty() && (1..=8).contains(&ext.len()))
}

fn is_url(value: &str) -> bool {
    let Some((scheme, rest)) = value.split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
        && !rest.is_empty()
}

fn is_public_material(value: &str) -> bool {
    let pem_public = value.contains("-----BEGIN ")
        && !value.contains("PRIVATE KEY")
        && ["CERTIFICATE", "PUBLIC KEY"]
            .iter()
            .any(|l| value.contains(l));
    pem_public
        || value.starts_with("ssh-rsa AAAA")
        || value.starts_with("ssh-ed25519 AAAA")
        || value.starts_with("ecdsa-sha2-")
        || value.starts_with("pk_live_")
        || value.starts_with("pk_test_")
}

/// Shannon entropy in bits per character.
fn entropy(value: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in value.bytes() {
        counts[usize::from(b)] += 1;
    }
    let len = value.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

/// The longest prefix of `text` no longer than `max` bytes that ends on a char boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Classifies one environment variable. See the [module docs](self) for the rules; in short:
/// a known key format in the value is a secret whatever the name; otherwise the name must
/// say it holds a credential and the value must be a literal that is neither a reference, a
/// placeholder nor a path, flag, number or other non-credential shape.
///
/// ```
/// use portcullis_engine::credentials::{classify, Verdict};
///
/// assert!(classify("RABBITMQ_DEFAULT_PASS", "password").is_secret());
/// assert!(classify("HF_TOKEN", "<your-token>").is_placeholder());
/// assert_eq!(classify("MAX_TOTAL_TOKENS", "2048"), Verdict::NotSecret);
/// assert_eq!(classify("GOOGLE_APPLICATION_CREDENTIALS", "/var/secrets/google/key.json"), Verdict::NotSecret);
/// ```
pub fn classify(name: &str, value: &str) -> Verdict {
    let value = truncate(value, MAX_VALUE_LEN).trim();
    if value.is_empty() {
        return Verdict::NotSecret;
    }

    let hits = all_hits(value);
    if let Some(key) = hits.iter().find_map(|hit| match hit {
        FormatHit::Real(key) => Some(key),
        FormatHit::Filler { .. } => None,
    }) {
        let encoded = if key.base64 { "a base64-encoded " } else { "" };
        let article = if encoded.is_empty() {
            article(key.kind)
        } else {
            encoded
        };
        return Verdict::Secret {
            kind: key.kind,
            reason: format!("the value contains {article}{}", key.kind),
        };
    }
    if let Some(FormatHit::Filler { kind, example }) = hits.first() {
        let reason = if *example {
            format!(
                "the value is a documented example of {}{kind}, not a real one",
                article(kind)
            )
        } else {
            format!(
                "the value has the shape of {}{kind} but is filled with a stand-in",
                article(kind)
            )
        };
        return Verdict::Placeholder { reason };
    }

    let Some(hit) = name_hit(&segments(name)) else {
        // A vendor key prefix with a stand-in body is a placeholder whatever the name
        // (`ANTHROPIC_ENVIRONMENT_KEY: sk-ant-oat01-PLACEHOLDER`); short prefixes such as
        // `sk-` are too common (`LANG: sk-SK`) to count without a credential name.
        if KEY_PREFIXES
            .iter()
            .any(|prefix| prefix.len() >= 5 && value.starts_with(prefix))
            && let Some(reason) = placeholder_reason(name, value)
        {
            return Verdict::Placeholder { reason };
        }
        return Verdict::NotSecret;
    };
    // `${VAR:-default}`: the default is what runs when the variable is unset, so it is judged
    // as the value (the key formats above have seen it already). Nested defaults are peeled a
    // few times, not recursively: a hostile value could nest thousands.
    let mut value = value;
    for _ in 0..MAX_NESTED_DEFAULTS {
        match DEFAULTED.captures(value).and_then(|c| c.get(1)) {
            Some(default) => value = default.as_str().trim(),
            None => break,
        }
    }
    if value.is_empty() || DEFAULTED.is_match(value) || is_reference(value) {
        return Verdict::NotSecret;
    }
    if let Some(reason) = placeholder_reason(name, value) {
        return Verdict::Placeholder { reason };
    }
    if not_secret_shape(&hit, value) {
        return Verdict::NotSecret;
    }

    let lower = value.to_ascii_lowercase();
    let service_named = segments(name)
        .iter()
        .any(|seg| seg.len() >= 3 && seg.eq_ignore_ascii_case(value));
    let how = if WELL_KNOWN.contains(&lower.as_str()) || service_named {
        "a well-known default"
    } else if value.len() >= 16 && entropy(value) >= 3.5 {
        "a random-looking literal"
    } else {
        "a literal"
    };
    Verdict::Secret {
        kind: hit.kind,
        reason: format!(
            "the name says it holds {}{} (`{}`) and the value is {how}",
            article(hit.kind),
            hit.kind,
            hit.word
        ),
    }
}

/// `"a "` or `"an "` for a kind, by how it is read out (`an AWS`, `an npm`, `a URL`).
fn article(kind: &str) -> &'static str {
    let vowel = kind.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']);
    if (vowel && !kind.starts_with("URL")) || kind.starts_with("NVIDIA") || kind.starts_with("npm")
    {
        "an "
    } else {
        "a "
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str, value: &str) -> bool {
        classify(name, value).is_secret()
    }

    fn placeholder(name: &str, value: &str) -> bool {
        classify(name, value).is_placeholder()
    }

    fn quiet(name: &str, value: &str) -> bool {
        classify(name, value) == Verdict::NotSecret
    }

    #[test]
    fn names_split_on_separators_and_camel_case() {
        assert_eq!(segments("dbPassword"), ["DB", "PASSWORD"]);
        assert_eq!(segments("APIKey"), ["API", "KEY"]);
        assert_eq!(segments("OAuth2Token"), ["O", "AUTH2", "TOKEN"]);
        assert_eq!(
            segments("database__connection__password"),
            ["DATABASE", "CONNECTION", "PASSWORD"]
        );
        assert_eq!(
            segments("xpack.security.http.ssl.key"),
            ["XPACK", "SECURITY", "HTTP", "SSL", "KEY"]
        );
    }

    #[test]
    fn credential_words_from_names() {
        assert_eq!(credential_word("DB_PASS"), Some("password"));
        assert_eq!(credential_word("MYSQL_PWD"), Some("password"));
        assert_eq!(credential_word("PGPASSWORD"), Some("password"));
        assert_eq!(credential_word("apiKey"), Some("API key"));
        assert_eq!(credential_word("AWS_ACCESS_KEY_ID"), Some("access key"));
        assert_eq!(credential_word("REDIS_AUTH"), Some("password"));
        assert_eq!(credential_word("SECRET_KEY_BASE"), Some("secret"));
        for name in [
            "PWD",
            "OLDPWD",
            "MAX_TOTAL_TOKENS",
            "MAX_BATCH_PREFILL_TOKENS",
            "TOKENIZERS_PARALLELISM",
            "MYSQL_ALLOW_EMPTY_PASSWORD",
            "MARIADB_RANDOM_ROOT_PASSWORD",
            "DB_PASSWORD_FILE",
            "SECRET_ID",
            "SECRET_VERSION",
            "ALLOYDB_SECRET_NAME",
            "TOKEN_EXPIRY_SECONDS",
            "PASSWORD_MIN_LENGTH",
            "PRIVATE_KEY_ID",
            "GPG_KEY",
            "JWT_PUBLIC_KEY",
            "SSH_AUTH_SOCK",
            "POSTGRES_HOST_AUTH_METHOD",
            "PASS_THROUGH",
        ] {
            assert_eq!(credential_word(name), None, "{name}");
        }
    }

    #[test]
    fn false_positives_from_real_manifests_stay_quiet() {
        assert!(quiet("MAX_TOTAL_TOKENS", "2048"));
        assert!(quiet("MAX_BATCH_PREFILL_TOKENS", "2048"));
        assert!(quiet("MYSQL_ALLOW_EMPTY_PASSWORD", "1"));
        // nginx upstream directives, from a real Dockerfile; a password after them still counts.
        assert!(quiet("DD_UWSGI_PASS", "uwsgi_server"));
        assert!(quiet("NGINX_PROXY_PASS", "backend"));
        assert!(!quiet("PROXY_PASSWORD", "hunter2"));
        assert!(!quiet("UWSGI_ADMIN_PASS", "hunter2"));
        assert!(quiet(
            "GOOGLE_APPLICATION_CREDENTIALS",
            "/var/secrets/google/key.json"
        ));
        assert!(quiet("SECRET_ID", "bq-readonly-key"));
        assert!(quiet("SECRET_VERSION", "latest"));
        assert!(quiet("PWD", "/app"));
        assert!(quiet("SMTP_PASSWORD", "/secrets/smtp-password"));
        assert!(quiet("DATA_SOURCE_PASS", "$(POSTGRES_PASSWORD)"));
        assert!(quiet("POSTGRES_PASSWORD", "${POSTGRES_PW}"));
        assert!(quiet("ELASTIC_PASSWORD", "${ELASTIC_PASSWORD:-}"));
        assert!(quiet("HF_TOKEN", "{{ .Values.routerSpec.hf_token }}"));
        assert!(quiet("REDIS_TLS_KEY", "${REDIS_TLS_KEY:-/certs/redis.key}"));
        assert!(quiet("AUTH_TYPE", "trust"));
        assert!(quiet("GPG_KEY", "A035C8C19219BA821ECEA86B64E628F8D684696D"));
        assert!(quiet(
            "SUPABASE_SECRET_KEYS",
            r#"{"default":"$(SUPABASE_SECRET_KEY)"}"#
        ));
        assert!(quiet("DB_URL", "postgres://app:$(DB_PASSWORD)@db:5432/app"));
        assert!(quiet("DATABASE_URL", "postgres://app@db:5432/app"));
        assert!(quiet(
            "STRIPE_PUBLISHABLE_KEY",
            "pk_live_51Habcdefghijklmnopqrstuvwx"
        ));
        assert!(quiet(
            "xpack.security.http.ssl.key",
            "certs/elasticsearch-key.pem"
        ));
        assert!(quiet("DB_PASSWORD", ""));
    }

    #[test]
    fn misses_from_real_manifests_are_found() {
        assert!(secret("RABBITMQ_DEFAULT_PASS", "password"));
        assert!(secret("DB_PASS", "bpm"));
        assert!(secret("MYSQL_PWD", "root"));
        assert!(secret("REDISCLI_AUTH", "bitnami"));
        assert!(secret("dbPassword", "s3cr3t-Value"));
        assert!(secret("ADMIN_PASSWORD", "123456"));
        assert!(secret("DD_ADMIN_PASSWORD", "${DD_ADMIN_PASSWORD:-admin}"));
        // A random key that starts with `/` is not a path.
        assert!(secret(
            "AWS_SECRET_ACCESS_KEY",
            "/K7MDENGbPxRfiCYq2Lw9/Zt4uVn8sXaHj3kQpR1"
        ));
        assert!(quiet("DB_PASSWORD", "/run/secrets/db-password"));
        // `$` inside a random key is not a reference.
        assert!(secret(
            "DJANGO_SECRET_KEY",
            "t*mehbpafly+v8mu(-ap5*2^b(0t7$y7p4iziv_a3+fx_neid%"
        ));
    }

    #[test]
    fn placeholders_are_told_apart() {
        for (name, value) in [
            ("HF_TOKEN", "HF_TOKEN"),
            ("HF_TOKEN", "<your-token>"),
            ("ELASTIC_PASSWORD", "changeme"),
            ("POSTGRES_PASSWORD", "changeit"),
            ("MYSQL_ROOT_PASSWORD", "example"),
            ("JOOMLA_DB_PASSWORD", "examplepass"),
            ("MYSQL_ROOT_PASSWORD", "notSecureChangeMe"),
            ("SECRETS_secret_key", "set-secure-zulip-secret-key"),
            ("OVH_APPLICATION_SECRET", "xxx"),
            ("GOOGLE_API_KEY", "GOOGLE_API_KEY_VAL"),
            ("ETCD_DISCOVERY_TOKEN", "INSERT_ETCD_DISCOVERY_TOKEN"),
            ("ANTHROPIC_API_KEY", "sk-ant-api03-PLACEHOLDER"),
            ("NGC_API_KEY", "nvapi-NVKEY"),
            ("WORDPRESS_DB_PASSWORD", "..."),
            ("DB_PASSWORD", "********"),
            ("SECRET_KEY", "__SECRET_KEY__"),
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("GITHUB_TOKEN", "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
            ("DATABASE_URL", "postgres://USER:PASSWORD@HOST:5432/DB"),
        ] {
            assert!(
                placeholder(name, value),
                "{name}={value}: {:?}",
                classify(name, value)
            );
        }
    }

    #[test]
    fn key_formats_whatever_the_name() {
        let cases = [
            ("X", "AKIAZ7QWERTYUIOP2345", "AWS access key ID"),
            (
                "X",
                "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A",
                "GitHub token",
            ),
            (
                "X",
                "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
                "Slack token",
            ),
            (
                "X",
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n",
                "private key",
            ),
            (
                "X",
                "amqp://orders:Zq81-kP0wLm3@rabbit:5672/",
                "URL with an embedded password",
            ),
            (
                "X",
                "Server=db;Database=shop;User Id=shop;Password=Kx91mQpz;",
                "connection string with a password",
            ),
            (
                "X",
                "hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh",
                "Hugging Face token",
            ),
        ];
        for (name, value, kind) in cases {
            match classify(name, value) {
                Verdict::Secret {
                    kind: found,
                    reason,
                } => {
                    assert_eq!(found, kind);
                    assert!(!reason.contains(value), "reason echoes the value: {reason}");
                }
                other => panic!("{value}: {other:?}"),
            }
        }
    }

    #[test]
    fn base64_is_decoded_once() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";
        let encoded = encode_base64(pem.as_bytes());
        let found = scan_text(&format!("data:\n  tls.key: {encoded}\n"));
        assert_eq!(found.len(), 1);
        assert!(found[0].base64);
        assert_eq!(found[0].kind, "private key");
        assert!(matches!(
            classify("CONFIG", &encoded),
            Verdict::Secret {
                kind: "private key",
                ..
            }
        ));
    }

    #[test]
    fn scan_text_reports_positions_and_skips_filler() {
        let text = "export GITHUB_TOKEN=ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A\nAWS=AKIAIOSFODNN7EXAMPLE\n";
        let found = scan_text(text);
        assert_eq!(found.len(), 1);
        assert_eq!(
            &text[found[0].start..found[0].end],
            "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A"
        );
        assert!(scan_text("").is_empty());
    }

    #[test]
    fn reasons_never_contain_the_value() {
        for (name, value) in [
            ("DB_PASSWORD", "hunter2-Zebra"),
            ("API_TOKEN", "q8ZpL1mX4nV7bC2kJ9hT"),
            ("HF_TOKEN", "<your-token>"),
            ("POSTGRES_PASSWORD", "postgres"),
        ] {
            match classify(name, value) {
                Verdict::Secret { reason, .. } | Verdict::Placeholder { reason } => {
                    assert!(!reason.contains(value), "{reason}");
                }
                Verdict::NotSecret => panic!("{name}"),
            }
        }
    }

    #[test]
    fn hostile_input_is_bounded_and_does_not_panic() {
        let long = "a".repeat(MAX_VALUE_LEN * 2);
        let _ = classify("DB_PASSWORD", &long);
        let _ = classify(&"N".repeat(10_000), "x");
        let _ = classify("PASSWORD", "é".repeat(40_000).as_str());
        let _ = classify("TOKEN", "${${${${}}}}");
        let _ = classify("TOKEN", "$(");
        let nested = format!("{}x{}", "${A:-".repeat(5_000), "}".repeat(5_000));
        assert_eq!(classify("DB_PASSWORD", &nested), Verdict::NotSecret);
        let _ = scan_text(&"LS0tLS1CRUdJTi".repeat(1_000_000));
        let _ = scan_text(&"eyJ".repeat(2_000_000));
        assert!(decode_base64("!!").is_none());
    }

    fn encode_base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}
