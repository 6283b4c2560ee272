//! `portcullis facts collect`, and the image-facts side of `check --pull-facts`: collection
//! is in the `portcullis-facts` crate; this is arguments, progress and messages.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use portcullis_engine::facts::FactsIndex;
use portcullis_engine::{Diagnostic, FactsFile};
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

/// Adds collected images to `file`; failures become messages.
fn add_collected(file: &mut FactsFile, collected: Vec<Collected>, errors: &mut Vec<String>) {
    for item in collected {
        match item.result {
            Ok((digest, facts)) => {
                log::info!("{}: {digest}", item.label);
                file.insert(digest, facts);
            }
            Err(message) if message.starts_with(&item.label) => errors.push(message),
            Err(message) => errors.push(format!("{}: {message}", item.label)),
        }
    }
}

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
        match std::fs::read_to_string(&args.out)
            .map_err(|e| e.to_string())
            .and_then(|text| FactsFile::parse(&text))
        {
            Ok(existing) => file = existing,
            Err(message) => {
                eprintln!("error: {}: {message}", args.out.display());
                return Ok(Outcome::Errors);
            }
        }
    }
    let mut errors = Vec::new();
    let from_disk = args.oci_layout.is_some() || args.docker_archive.is_some();
    if let Some(dir) = &args.oci_layout {
        match portcullis_facts::local::OciLayout::open(dir) {
            Ok(layout) => add_collected(
                &mut file,
                layout.collect(&args.references, &options.platform, options.max_layer_size),
                &mut errors,
            ),
            Err(message) => errors.push(message),
        }
    }
    if let Some(path) = &args.docker_archive {
        match portcullis_facts::local::DockerArchive::open(path) {
            Ok(archive) => add_collected(
                &mut file,
                archive.collect(&args.references, options.max_layer_size),
                &mut errors,
            ),
            Err(message) => errors.push(message),
        }
    }
    if !from_disk && !args.references.is_empty() {
        add_collected(
            &mut file,
            portcullis_facts::registry::collect(&args.references, &options),
            &mut errors,
        );
    }
    // Reports last, so they can attach to images collected in this run by reference.
    type Parse = fn(&str) -> Result<Vec<scan::ScanReport>, String>;
    let formats: [(&Vec<PathBuf>, Parse); 4] = [
        (&args.trivy, |text| scan::parse_trivy(text).map(|r| vec![r])),
        (&args.grype, |text| scan::parse_grype(text).map(|r| vec![r])),
        (&args.clair, |text| scan::parse_clair(text).map(|r| vec![r])),
        (&args.snyk, scan::parse_snyk),
    ];
    for (paths, parse) in formats {
        for path in paths {
            let reports = match scan::read_report(path).and_then(|text| parse(&text)) {
                Ok(reports) => reports,
                Err(message) => {
                    errors.push(format!("{}: {message}", path.display()));
                    continue;
                }
            };
            for report in reports {
                match scan::merge_report(&mut file, report) {
                    Ok(digest) => log::info!("{}: merged into {digest}", path.display()),
                    Err(message) => errors.push(format!("{}: {message}", path.display())),
                }
            }
        }
    }
    if file.images.is_empty() && errors.is_empty() {
        eprintln!(
            "error: nothing to collect: give image references, --oci-layout, --docker-archive, --trivy, --grype, --clair or --snyk"
        );
        return Ok(Outcome::Errors);
    }
    std::fs::write(&args.out, file.to_json())?;
    for message in &errors {
        eprintln!("error: {message}");
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
) -> Result<(FactsFile, Vec<Diagnostic>), Diagnostic> {
    let options = registry_options(args)
        .map_err(|message| Diagnostic::new("<command line>", None, None, message))?;
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
            Err(message) => errors.push(Diagnostic::new(
                &item.label,
                None,
                None,
                format!("cannot collect image facts: {message}"),
            )),
        }
    }
    Ok((file, errors))
}
