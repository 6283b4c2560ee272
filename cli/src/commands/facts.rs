//! `portcullis facts collect`, and the image-facts side of `check --pull-facts`: collection
//! is in the `portcullis-facts` crate; this is arguments, progress and messages.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_engine::facts::FactsIndex;
use portcullis_engine::files::MAX_FACTS_BYTES;
use portcullis_engine::{FactsFile, InputError};
use portcullis_facts::registry::{Credentials, RegistryOptions};
use portcullis_facts::{Collected, PlatformChoice, scan};

use crate::Outcome;
use crate::args::{CollectArgs, RegistryArgs};

/// Environment variable holding the password for `--username` (never a flag: flags end up
/// in shell histories and process lists).
pub const PASSWORD_ENV: &str = "PORTCULLIS_REGISTRY_PASSWORD";

/// Registry options from the command line.
pub fn registry_options(args: &RegistryArgs) -> Result<RegistryOptions, String> {
    let platform = PlatformChoice::parse(&args.platform)?;
    let mut credentials = match args
        .docker_config
        .clone()
        .or_else(Credentials::default_docker_config)
    {
        Some(path) => Credentials::from_docker_config(&path)?,
        None => Credentials::default(),
    };
    if let Some(user) = &args.username {
        let password = std::env::var(PASSWORD_ENV).map_err(|_| {
            format!("--username needs the password in the environment variable {PASSWORD_ENV}")
        })?;
        credentials.basic = Some((user.clone(), password));
    }
    let cache_dir = if args.no_facts_cache {
        None
    } else {
        args.facts_cache.clone().or_else(default_cache_dir)
    };
    Ok(RegistryOptions {
        platform,
        max_layer_size: args.max_layer_size,
        timeout: Duration::from_secs(args.registry_timeout.max(1)),
        insecure: args.insecure.clone(),
        credentials,
        cache_dir,
        progress: std::io::stderr().is_terminal(),
    })
}

/// `$XDG_CACHE_HOME/portcullis/image-facts`, else `~/.cache/portcullis/image-facts`.
fn default_cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("portcullis").join("image-facts"))
}

/// Parses `--max-layer-size`: bytes, or with a unit (`512MiB`, `2GB`, `1G`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size like `512MiB`"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use B, KiB, MiB, GiB)"
            ));
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too big"))
}

/// Largest Trivy or Grype report read.
pub const MAX_REPORT_BYTES: u64 = MAX_FACTS_BYTES;

/// Reads a facts file (`--image-facts`, or `--out` with `--merge`): a regular file of at
/// most [`MAX_FACTS_BYTES`]. The message names the file.
pub fn read_facts_file(path: &Path) -> Result<FactsFile, String> {
    let text = portcullis_facts::read_regular_text(path, MAX_FACTS_BYTES, "a facts file")?;
    FactsFile::parse(&text).map_err(|message| format!("{}: {message}", path.display()))
}

/// Writes `bytes` to `path` atomically: into a new file beside it (same directory, so the
/// same filesystem), flushed, then renamed over it. A reader sees the old file or the new
/// one, never half of one, and a failure leaves the old file as it was. A symlink at
/// `path` is written through (its target is replaced); an existing file keeps its
/// permissions.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let target = match std::fs::canonicalize(path) {
        Ok(real) => real,
        Err(_) => path.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "facts.json".to_string());
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        file.write_all(bytes)?;
        if let Ok(existing) = std::fs::metadata(&target) {
            file.set_permissions(existing.permissions())?;
        }
        file.sync_all()?;
        std::fs::rename(&temporary, &target)
    };
    let result = write();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Adds collected images to `file`; failures become messages. Returns how many were added.
fn add_collected(
    file: &mut FactsFile,
    collected: Vec<Collected>,
    errors: &mut Vec<String>,
) -> usize {
    let mut added = 0;
    for item in collected {
        match item.result {
            Ok((digest, facts)) => {
                log::info!("{}: {digest}", item.label);
                file.insert(digest, facts);
                added += 1;
            }
            Err(message) if message.starts_with(&item.label) => errors.push(message),
            Err(message) => errors.push(format!("{}: {message}", item.label)),
        }
    }
    added
}

/// `facts collect`. What reaches `--out`:
/// - every input worked: the facts collected (on top of the file's, with `--merge`);
/// - some images or reports failed, others worked: the same, written, with each failure
///   on stderr and exit code 2 — the file holds what could be collected, and CI stops on
///   the exit code rather than on a file that silently lacks an image;
/// - nothing worked (every input failed): the file is left as it was (not replaced by an
///   empty one), exit code 2.
///
/// The file is written atomically ([`write_atomically`]).
pub fn collect(args: CollectArgs) -> std::io::Result<Outcome> {
    let options = match registry_options(&args.registry) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(Outcome::Errors);
        }
    };
    let mut file = FactsFile::default();
    if args.merge && args.out.exists() {
        match read_facts_file(&args.out) {
            Ok(existing) => file = existing,
            Err(message) => {
                eprintln!("error: {message}; it is left as it was");
                return Ok(Outcome::Errors);
            }
        }
    }
    let mut errors = Vec::new();
    // Images and reports of this run that worked.
    let mut usable = 0;
    let from_disk = args.oci_layout.is_some() || args.docker_archive.is_some();
    if let Some(dir) = &args.oci_layout {
        match portcullis_facts::local::OciLayout::open(dir) {
            Ok(layout) => {
                usable += add_collected(
                    &mut file,
                    layout.collect(&args.references, &options.platform, options.max_layer_size),
                    &mut errors,
                )
            }
            Err(message) => errors.push(message),
        }
    }
    if let Some(path) = &args.docker_archive {
        match portcullis_facts::local::DockerArchive::open(path) {
            Ok(archive) => {
                usable += add_collected(
                    &mut file,
                    archive.collect(&args.references, options.max_layer_size),
                    &mut errors,
                )
            }
            Err(message) => errors.push(message),
        }
    }
    if !from_disk && !args.references.is_empty() {
        usable += add_collected(
            &mut file,
            portcullis_facts::registry::collect(&args.references, &options),
            &mut errors,
        );
    }
    // Reports last, so they can attach to images collected in this run by reference.
    let reports = args
        .trivy
        .iter()
        .map(|p| {
            (
                p,
                scan::parse_trivy as fn(&str) -> Result<scan::ScanReport, String>,
            )
        })
        .chain(args.grype.iter().map(|p| {
            (
                p,
                scan::parse_grype as fn(&str) -> Result<scan::ScanReport, String>,
            )
        }));
    for (path, parse) in reports {
        let result =
            portcullis_facts::read_regular_text(path, MAX_REPORT_BYTES, "a scanner report")
                .and_then(|text| parse(&text).map_err(|e| format!("{}: {e}", path.display())))
                .and_then(|report| {
                    scan::merge_report(&mut file, report)
                        .map_err(|e| format!("{}: {e}", path.display()))
                });
        match result {
            Ok(digest) => {
                log::info!("{}: merged into {digest}", path.display());
                usable += 1;
            }
            Err(message) => errors.push(message),
        }
    }
    if file.images.is_empty() && errors.is_empty() {
        eprintln!(
            "error: nothing to collect: give image references, --oci-layout, --docker-archive, --trivy or --grype"
        );
        return Ok(Outcome::Errors);
    }
    for message in &errors {
        eprintln!("error: {message}");
    }
    if usable == 0 {
        eprintln!(
            "nothing was collected: {} {}",
            args.out.display(),
            if args.out.exists() {
                "is left as it was"
            } else {
                "is not written"
            }
        );
        return Ok(Outcome::Errors);
    }
    if let Err(e) = write_atomically(&args.out, file.to_json().as_bytes()) {
        eprintln!(
            "error: cannot write {}: {e}; it is left as it was",
            args.out.display()
        );
        return Ok(Outcome::Errors);
    }
    eprintln!(
        "wrote facts of {} image(s) to {}{}",
        file.images.len(),
        args.out.display(),
        if errors.is_empty() {
            String::new()
        } else {
            format!("; {} failed", errors.len())
        }
    );
    Ok(if errors.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Errors
    })
}

/// `check --pull-facts`: collects from registries the facts of the images in `texts` that
/// `known` does not have. Each failure is an error entry for that image; the others are
/// still collected.
pub fn pull_for_manifests(
    texts: &[(String, String)],
    known: &FactsFile,
    args: &RegistryArgs,
) -> Result<(FactsFile, Vec<InputError>), InputError> {
    let options = registry_options(args)
        .map_err(|message| InputError::new("<command line>", None, None, message))?;
    let index = FactsIndex::new(known.clone());
    let mut references = BTreeSet::new();
    for (name, text) in texts {
        for workload in portcullis_engine::load_workloads(name, text).workloads {
            for container in &workload.containers {
                if let Some(image) = container.image.valid()
                    && index.lookup(image).is_none()
                {
                    references.insert(image.original.clone());
                }
            }
        }
    }
    let references: Vec<String> = references.into_iter().collect();
    let mut file = known.clone();
    let mut errors = Vec::new();
    for item in portcullis_facts::registry::collect(&references, &options) {
        match item.result {
            Ok((digest, facts)) => file.insert(digest, facts),
            Err(message) => errors.push(InputError::new(
                &item.label,
                None,
                None,
                format!("cannot collect image facts: {message}"),
            )),
        }
    }
    Ok((file, errors))
}
