//! The rules bundle: user rules and a default configuration, stored in a fixed area of the
//! module's data so that `portcullis wasm build` can fill it into a prebuilt module without a
//! compiler.
//!
//! The area is `MAGIC`, a little-endian `u32` length, then `CAPACITY` bytes of which the
//! first `length` hold the bundle as JSON. The filler is non-zero so that no optimiser
//! splits the area out of its data segment. Code never compares against `MAGIC` (that would
//! put a second copy of it in the module); it only reads the length at its fixed offset.

use serde::{Deserialize, Serialize};

/// Marks the start of the area in a module file; it occurs exactly once per module.
pub const MAGIC: [u8; 16] = *b"~portcullis-bdl~";
/// Bytes before the payload: the magic and the length.
pub const HEADER: usize = MAGIC.len() + 4;
/// The largest bundle a module holds.
pub const CAPACITY: usize = 256 * 1024;
const FILLER: u8 = 0xa5;

#[repr(C, align(8))]
struct Area([u8; HEADER + CAPACITY]);

static AREA: Area = Area(initial_area());

const fn initial_area() -> [u8; HEADER + CAPACITY] {
    let mut area = [FILLER; HEADER + CAPACITY];
    let mut i = 0;
    while i < MAGIC.len() {
        area[i] = MAGIC[i];
        i += 1;
    }
    // Length 0: no bundle.
    while i < HEADER {
        area[i] = 0;
        i += 1;
    }
    area
}

/// One user rule as it was read from the rules folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundledRule {
    /// Where the rule came from, for error messages (`rules/no-alpine.rhai`).
    pub origin: String,
    /// The rule id the file name promises (its stem).
    pub id: String,
    pub source: String,
}

/// What `portcullis wasm build` puts into a module.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    #[serde(default)]
    pub rules: Vec<BundledRule>,
    /// Configuration text (YAML or JSON) used when the host passes no settings.
    #[serde(default)]
    pub config: Option<String>,
    /// Name of the configuration file, for error messages.
    #[serde(default)]
    pub config_name: Option<String>,
    /// An image facts file (`portcullis facts collect`), as compact JSON: the image rules
    /// see it as `check --image-facts` does, with no registry calls from the host.
    #[serde(default)]
    pub image_facts: Option<String>,
    /// Name of the facts file, for error messages.
    #[serde(default)]
    pub image_facts_name: Option<String>,
}

/// The bundle bytes stored in this module (empty when none was written).
pub fn stored() -> &'static [u8] {
    // `black_box` keeps the optimiser from folding reads of the initial contents: the
    // contents are replaced after compilation.
    let area: &[u8; HEADER + CAPACITY] = std::hint::black_box(&AREA.0);
    let mut len = [0u8; 4];
    len.copy_from_slice(&area[MAGIC.len()..HEADER]);
    let len = u32::from_le_bytes(len) as usize;
    if len > CAPACITY {
        // Only a damaged module gets here; treat it as holding no bundle.
        return &[];
    }
    &area[HEADER..HEADER + len]
}

/// The bundle stored in this module.
pub fn load() -> Result<Bundle, String> {
    let bytes = stored();
    if bytes.is_empty() {
        return Ok(Bundle::default());
    }
    serde_json::from_slice(bytes).map_err(|e| format!("the module's rules bundle is damaged: {e}"))
}

/// Writes `bundle` into the area of a module file (`module` is the whole `.wasm`).
pub fn write(module: &mut [u8], bundle: &Bundle) -> Result<(), String> {
    let payload = serde_json::to_vec(bundle).map_err(|e| e.to_string())?;
    if payload.len() > CAPACITY {
        return Err(format!(
            "the rules, configuration and image facts take {} KiB; a module holds at most \
             {} KiB",
            payload.len().div_ceil(1024),
            CAPACITY / 1024
        ));
    }
    let start = find_area(module)?;
    if module.len() < start + HEADER + CAPACITY {
        return Err("the module's rules area is truncated".into());
    }
    module[start + MAGIC.len()..start + HEADER]
        .copy_from_slice(&(payload.len() as u32).to_le_bytes());
    module[start + HEADER..start + HEADER + payload.len()].copy_from_slice(&payload);
    module[start + HEADER + payload.len()..start + HEADER + CAPACITY].fill(FILLER);
    Ok(())
}

/// Reads the bundle back out of a module file.
pub fn read(module: &[u8]) -> Result<Bundle, String> {
    let start = find_area(module)?;
    let header = module
        .get(start + MAGIC.len()..start + HEADER)
        .ok_or("the module's rules area is truncated")?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len == 0 {
        return Ok(Bundle::default());
    }
    let payload = module
        .get(start + HEADER..start + HEADER + len)
        .ok_or("the module's rules area is truncated")?;
    serde_json::from_slice(payload)
        .map_err(|e| format!("the module's rules bundle is damaged: {e}"))
}

fn find_area(module: &[u8]) -> Result<usize, String> {
    let mut found = module
        .windows(MAGIC.len())
        .enumerate()
        .filter(|(_, w)| *w == MAGIC)
        .map(|(i, _)| i);
    match (found.next(), found.next()) {
        (Some(start), None) => Ok(start),
        (None, _) => Err("not a Portcullis module: it has no rules area".into()),
        (Some(_), Some(_)) => Err("the module has more than one rules area".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_a_module_image() {
        // A fake module: bytes around one copy of the initial area.
        let mut module = b"\0asm-before".to_vec();
        module.extend_from_slice(&initial_area());
        module.extend_from_slice(b"after");
        assert_eq!(read(&module).unwrap(), Bundle::default());
        let bundle = Bundle {
            rules: vec![BundledRule {
                origin: "r/x.rhai".into(),
                id: "x".into(),
                source: "fn check(w, s) { [] }".into(),
            }],
            config: Some("rules: {}".into()),
            config_name: Some("p.yaml".into()),
            image_facts: Some(r#"{"format":"portcullis-image-facts"}"#.into()),
            image_facts_name: Some("image-facts.json".into()),
        };
        write(&mut module, &bundle).unwrap();
        assert_eq!(read(&module).unwrap(), bundle);
        assert!(module.ends_with(b"after"));
    }

    #[test]
    fn refuses_oversized_bundles_and_foreign_files() {
        let mut module = initial_area().to_vec();
        let big = Bundle {
            config: Some("x".repeat(CAPACITY + 1)),
            ..Bundle::default()
        };
        assert!(write(&mut module, &big).unwrap_err().contains("at most"));
        assert!(
            read(b"\0asm\x01\0\0\0")
                .unwrap_err()
                .contains("no rules area")
        );
    }

    #[test]
    fn this_build_stores_no_bundle() {
        assert!(stored().is_empty());
    }
}
