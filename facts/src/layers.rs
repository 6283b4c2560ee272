//! Filesystem facts from layer tarballs, applied bottom to top with OCI whiteouts, keeping
//! only the few paths that matter (shells, package managers, os-release): a layer is read
//! once, as a stream, and never stored.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};

use portcullis_engine::facts::{FilesystemFacts, OsRelease};

/// Directories searched for shells and package-manager binaries.
const BIN_DIRS: [&str; 5] = ["bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin"];
const SHELLS: [&str; 7] = ["sh", "bash", "ash", "dash", "zsh", "ksh", "busybox"];
/// Binary name -> package manager it stands for.
const MANAGER_BINARIES: [(&str, &str); 9] = [
    ("dpkg", "dpkg"),
    ("apt", "apt"),
    ("apt-get", "apt"),
    ("apk", "apk"),
    ("rpm", "rpm"),
    ("yum", "yum"),
    ("dnf", "dnf"),
    ("microdnf", "dnf"),
    ("pip", "pip"),
];
/// Package databases -> package manager: a database without the binary still means the
/// image was built from a distribution and its packages can be (re)installed.
const MANAGER_DATABASES: [(&str, &str); 8] = [
    ("var/lib/dpkg/status", "dpkg"),
    ("lib/apk/db/installed", "apk"),
    ("var/lib/rpm/Packages", "rpm"),
    ("var/lib/rpm/Packages.db", "rpm"),
    ("var/lib/rpm/rpmdb.sqlite", "rpm"),
    ("usr/lib/sysimage/rpm/Packages", "rpm"),
    ("usr/lib/sysimage/rpm/Packages.db", "rpm"),
    ("usr/lib/sysimage/rpm/rpmdb.sqlite", "rpm"),
];
const OS_RELEASE_PATHS: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];
/// os-release files are a few hundred bytes; anything bigger is not one.
const OS_RELEASE_MAX: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    File,
    Symlink(String),
}

#[derive(Debug, Clone)]
struct Entry {
    kind: Kind,
    layer: usize,
    content: Option<Vec<u8>>,
}

/// Accumulates the interesting paths of an image's layers.
#[derive(Debug, Default)]
pub struct FilesystemScanner {
    entries: BTreeMap<String, Entry>,
    layers: usize,
}

/// `./usr/bin/sh` and `/usr/bin/sh` -> `usr/bin/sh`.
fn clean(path: &str) -> String {
    let mut out = path;
    loop {
        if let Some(rest) = out.strip_prefix("./") {
            out = rest;
        } else if let Some(rest) = out.strip_prefix('/') {
            out = rest;
        } else {
            break;
        }
    }
    out.trim_end_matches('/').to_string()
}

fn is_interesting(path: &str) -> bool {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    if BIN_DIRS.contains(&dir)
        && (SHELLS.contains(&name)
            || MANAGER_BINARIES.iter().any(|(b, _)| *b == name)
            || is_pip(name))
    {
        return true;
    }
    MANAGER_DATABASES.iter().any(|(p, _)| *p == path) || OS_RELEASE_PATHS.contains(&path)
}

/// `pip`, `pip3`, `pip3.12`.
fn is_pip(name: &str) -> bool {
    name.strip_prefix("pip")
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

impl FilesystemScanner {
    pub fn new() -> FilesystemScanner {
        FilesystemScanner::default()
    }

    /// Reads one layer (a tar stream, gzip-compressed or not; detected from its first
    /// bytes) on top of the ones before. Reads `reader` to its end, so a caller verifying a
    /// digest over the stream sees every byte.
    pub fn add_layer(&mut self, reader: impl Read) -> Result<(), String> {
        let mut reader = BufReader::with_capacity(64 * 1024, reader);
        let head = reader
            .fill_buf()
            .map_err(|e| format!("reading the layer: {e}"))?;
        let layer = self.layers;
        self.layers += 1;
        if head.starts_with(&[0x1f, 0x8b]) {
            // Multi-member: parallel gzip writers (umoci, pigz) emit one member per block.
            let mut gz = flate2::read::MultiGzDecoder::new(reader);
            self.read_tar(&mut gz, layer)?;
            drain(&mut gz)?;
            drain(gz.get_mut())
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Err("zstd-compressed layers are not supported".to_string())
        } else {
            self.read_tar(&mut reader, layer)?;
            drain(&mut reader)
        }
    }

    fn read_tar(&mut self, reader: &mut dyn Read, layer: usize) -> Result<(), String> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive
            .entries()
            .map_err(|e| format!("reading the layer tar: {e}"))?;
        for entry in entries {
            let mut entry = match entry {
                Ok(entry) => entry,
                // Some writers (umoci insert) end a layer without the last entry's padding
                // and the end-of-archive blocks. Accepting that is safe: every source checks
                // the digest of the compressed stream, so truncation is still caught.
                // (tar's own message; a gzip stream that ends early is still an error.)
                Err(e)
                    if e.kind() != std::io::ErrorKind::UnexpectedEof
                        && e.to_string().contains("unexpected EOF during skip") =>
                {
                    break;
                }
                Err(e) => return Err(format!("reading the layer tar: {e}")),
            };
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let path = clean(&raw);
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            // Whiteouts: `.wh..wh..opq` hides what lower layers have in `dir`; `.wh.NAME`
            // deletes `dir/NAME` and everything below it.
            if name == ".wh..wh..opq" {
                let prefix = if dir.is_empty() {
                    String::new()
                } else {
                    format!("{dir}/")
                };
                self.entries
                    .retain(|p, e| e.layer == layer || !p.starts_with(&prefix));
                continue;
            }
            if let Some(deleted) = name.strip_prefix(".wh.") {
                let target = if dir.is_empty() {
                    deleted.to_string()
                } else {
                    format!("{dir}/{deleted}")
                };
                let below = format!("{target}/");
                self.entries
                    .retain(|p, _| *p != target && !p.starts_with(&below));
                continue;
            }
            let header = entry.header();
            let kind = match header.entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::Link => {
                    Kind::File
                }
                tar::EntryType::Symlink => Kind::Symlink(
                    entry
                        .link_name_bytes()
                        .map(|l| String::from_utf8_lossy(&l).into_owned())
                        .unwrap_or_default(),
                ),
                tar::EntryType::Directory => {
                    // A directory replacing a file of a lower layer removes that file.
                    self.entries.remove(&path);
                    continue;
                }
                _ => continue,
            };
            if !is_interesting(&path) {
                continue;
            }
            let size = header.size().unwrap_or(0);
            let content = if OS_RELEASE_PATHS.contains(&path.as_str())
                && kind == Kind::File
                && header.entry_type() != tar::EntryType::Link
                && size <= OS_RELEASE_MAX
            {
                let mut text = Vec::with_capacity(size as usize);
                entry
                    .read_to_end(&mut text)
                    .map_err(|e| format!("reading {raw} in the layer: {e}"))?;
                Some(text)
            } else {
                None
            };
            self.entries.insert(
                path,
                Entry {
                    kind,
                    layer,
                    content,
                },
            );
        }
        Ok(())
    }

    /// The facts of the layers read so far.
    pub fn finish(self) -> FilesystemFacts {
        let mut shells = Vec::new();
        let mut managers = Vec::new();
        for path in self.entries.keys() {
            let Some((dir, name)) = path.rsplit_once('/') else {
                continue;
            };
            if BIN_DIRS.contains(&dir) {
                if SHELLS.contains(&name) {
                    shells.push(name.to_string());
                }
                if let Some((_, manager)) = MANAGER_BINARIES.iter().find(|(b, _)| *b == name) {
                    managers.push(manager.to_string());
                } else if is_pip(name) {
                    managers.push("pip".to_string());
                }
            }
            if let Some((_, manager)) = MANAGER_DATABASES.iter().find(|(p, _)| p == path) {
                managers.push(manager.to_string());
            }
        }
        shells.sort();
        shells.dedup();
        managers.sort();
        managers.dedup();
        FilesystemFacts {
            shells,
            package_managers: managers,
            os_release: self.os_release(),
        }
    }

    /// `/etc/os-release`, following it when it is a symlink (usually to
    /// `../usr/lib/os-release`), else `/usr/lib/os-release`.
    fn os_release(&self) -> Option<OsRelease> {
        let text = |path: &str| {
            self.entries
                .get(path)
                .and_then(|e| e.content.as_deref())
                .and_then(|bytes| OsRelease::parse(&String::from_utf8_lossy(bytes)))
        };
        match self.entries.get("etc/os-release").map(|e| &e.kind) {
            Some(Kind::File) => text("etc/os-release"),
            Some(Kind::Symlink(_)) | None => text("usr/lib/os-release"),
        }
    }
}

/// Reads `reader` to its end: the rest of a tar stream (padding, a gzip trailer) still
/// counts for size caps and digests.
fn drain(reader: &mut dyn Read) -> Result<(), String> {
    std::io::copy(reader, &mut std::io::sink())
        .map(|_| ())
        .map_err(|e| format!("reading the layer: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar with `files` (path, contents) and `links` (path, target).
    fn layer(files: &[(&str, &str)], links: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, contents) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(contents.len() as u64);
            header.set_mode(0o755);
            header.set_entry_type(tar::EntryType::Regular);
            builder
                .append_data(&mut header, path, contents.as_bytes())
                .unwrap();
        }
        for (path, target) in links {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, path, target).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn shells_managers_and_os_release_across_layers() {
        let mut scanner = FilesystemScanner::new();
        let base = layer(
            &[
                ("bin/busybox", "elf"),
                ("lib/apk/db/installed", "P:musl"),
                ("usr/lib/os-release", "ID=alpine\nVERSION_ID=3.20.3\n"),
                ("usr/local/bin/pip3.12", "#!"),
                ("app/bin/sh", "not a shell dir"),
            ],
            &[
                ("bin/sh", "/bin/busybox"),
                ("etc/os-release", "../usr/lib/os-release"),
            ],
        );
        scanner.add_layer(&gzip(&base)[..]).unwrap();
        let facts = scanner.finish();
        assert_eq!(facts.shells, vec!["busybox", "sh"]);
        assert_eq!(facts.package_managers, vec!["apk", "pip"]);
        assert_eq!(facts.os_release.unwrap().id, "alpine");
    }

    #[test]
    fn whiteouts_remove_lower_layers() {
        let mut scanner = FilesystemScanner::new();
        scanner
            .add_layer(
                &layer(
                    &[
                        ("bin/bash", "elf"),
                        ("bin/sh", "elf"),
                        ("var/lib/dpkg/status", "Package: x"),
                        ("usr/bin/apt-get", "elf"),
                        ("etc/os-release", "ID=debian"),
                    ],
                    &[],
                )[..],
            )
            .unwrap();
        scanner
            .add_layer(
                &layer(
                    &[
                        ("bin/.wh.bash", ""),
                        ("var/lib/.wh.dpkg", ""),
                        ("usr/bin/.wh..wh..opq", ""),
                        ("usr/bin/app", "elf"),
                    ],
                    &[],
                )[..],
            )
            .unwrap();
        let facts = scanner.finish();
        assert_eq!(facts.shells, vec!["sh"]);
        assert!(facts.package_managers.is_empty(), "{facts:?}");
        assert_eq!(facts.os_release.unwrap().id, "debian");
    }

    #[test]
    fn an_empty_image_has_nothing_and_garbage_is_an_error() {
        let scanner = FilesystemScanner::new();
        assert_eq!(scanner.finish(), FilesystemFacts::default());
        let mut scanner = FilesystemScanner::new();
        assert!(scanner.add_layer(&[0x1f, 0x8b, 0, 1, 2][..]).is_err());
        let mut scanner = FilesystemScanner::new();
        assert!(
            scanner
                .add_layer(&[0x28, 0xb5, 0x2f, 0xfd, 0][..])
                .unwrap_err()
                .contains("zstd")
        );
    }
}
