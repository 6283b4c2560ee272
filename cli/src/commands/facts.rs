//! `portcullis facts collect`: collection is in the `portcullis-facts` crate; this is
//! arguments, progress and messages.

use std::path::PathBuf;

use portcullis_engine::facts::FactsFile;
use portcullis_facts::{Collected, scan};

use crate::Outcome;
use crate::args::{CollectArgs, ColorChoice};
use crate::printer::Printer;
use crate::setup;

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

/// Runs `facts collect`.
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
        match std::fs::read_to_string(&args.out)
            .map_err(|e| e.to_string())
            .and_then(|text| FactsFile::parse(&text))
        {
            Ok(existing) => file = existing,
            Err(message) => {
                printer.error(&format!("{}: {message}", args.out.display()));
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
        printer.error(
            "nothing to collect: give image references, --oci-layout, --docker-archive, --trivy, --grype, --clair or --snyk",
        );
        return Ok(Outcome::Errors);
    }
    std::fs::write(&args.out, file.to_json())?;
    for message in &errors {
        printer.error(message);
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
