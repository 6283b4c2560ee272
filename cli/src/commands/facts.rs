//! `portcullis facts collect`: collection is in the `portcullis-facts` crate; this is
//! arguments, progress and messages.

use std::io::Write;
use std::path::{Path, PathBuf};

use portcullis_engine::facts::FactsFile;
use portcullis_engine::files::MAX_FACTS_BYTES;
use portcullis_facts::{Collected, scan};

use crate::Outcome;
use crate::args::{CollectArgs, ColorChoice};
use crate::printer::Printer;
use crate::setup;

/// Reads a facts file (`--image-facts`, or `--out` with `--merge`): a regular file of at
/// most [`MAX_FACTS_BYTES`]. The message names the file.
fn read_facts_file(path: &Path) -> Result<FactsFile, String> {
    let text = portcullis_facts::read_regular_text(path, MAX_FACTS_BYTES, "a facts file")?;
    FactsFile::parse(&text).map_err(|message| format!("{}: {message}", path.display()))
}

/// Writes `bytes` to `path` atomically: into a new file beside it (same directory, so the
/// same filesystem), flushed, then renamed over it. A reader sees the old file or the new
/// one, never half of one, and a failure leaves the old file as it was. A symlink at
/// `path` is written through (its target is replaced); an existing file keeps its
/// permissions.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
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
    let printer = Printer::new(ColorChoice::Auto);
    let options = match setup::registry_options(&args.registry) {
        Ok(options) => options,
        Err(message) => {
            printer.error(&message);
            return Ok(Outcome::Errors);
        }
    };
    let mut file = FactsFile::default();
    if args.merge && args.out.exists() {
        match read_facts_file(&args.out) {
            Ok(existing) => file = existing,
            Err(message) => {
                printer.error(&format!("{message}; it is left as it was"));
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
                    Ok(digest) => {
                        log::info!("{}: merged into {digest}", path.display());
                        usable += 1;
                    }
                    Err(message) => errors.push(format!("{}: {message}", path.display())),
                }
            }
        }
    }
    if file.images.is_empty() && errors.is_empty() {
        printer.error(
            "nothing to collect: give image references, --oci-layout, --docker-archive, --trivy, --grype, --clair or --snyk",
        );
        return Ok(Outcome::Errors);
    }
    for message in &errors {
        printer.error(message);
    }
    if usable == 0 {
        printer.error(&format!(
            "nothing was collected: {} {}",
            args.out.display(),
            if args.out.exists() {
                "is left as it was"
            } else {
                "is not written"
            }
        ));
        return Ok(Outcome::Errors);
    }
    if let Err(e) = write_atomically(&args.out, file.to_json().as_bytes()) {
        printer.error(&format!(
            "cannot write {}: {e}; it is left as it was",
            args.out.display()
        ));
        return Ok(Outcome::Errors);
    }
    printer.err(&format!(
        "wrote facts of {} image(s) to {}{}\n",
        file.images.len(),
        args.out.display(),
        if errors.is_empty() {
            String::new()
        } else {
            format!("; {} failed", errors.len())
        }
    ));
    Ok(if errors.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Errors
    })
}
