//! Filesystem facts from layer tarballs, applied bottom to top the way a runtime extracts
//! them, keeping only what the facts need (shells, package managers, os-release, and the
//! symlinks that decide where those land): a layer is read once, as a stream, and never
//! stored.
//!
//! Paths are placed as containerd places them: a name is cleaned first (`./`, `/`, `//`,
//! `.` and `..` components, a trailing `/`; `..` stops at the root), then the directories
//! of the cleaned name are resolved through the symlinks the image has so far, as inside a
//! chroot (absolute targets start at the image root). So `bin//sh`, `usr/bin/./bash`,
//! `tmp/../sbin/apk` and `link-to-usr-bin/sh` are found where extraction puts them, and
//! whiteouts (`.wh.NAME`, `.wh..wh..opq`) are applied to the cleaned, resolved path.
//!
//! Everything is bounded: tar extension records by [`crate::tarball`], the uncompressed
//! stream by the expansion cap, what the scanner keeps by [`MAX_TRACKED_BYTES`], and
//! symlink resolution by [`MAX_SYMLINK_HOPS`] per path and [`MAX_RESOLVE_STEPS`] per image.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use portcullis_engine::facts::{FilesystemFacts, OsRelease};

use crate::human_size;
use crate::tarball::{Kind, Streamed, TarReader};

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

/// Longest path, once cleaned, that a runtime can create (Linux `PATH_MAX`); a longer one
/// makes extraction fail, so the layer is refused here too.
pub const MAX_PATH_BYTES: usize = 4096;
/// Symlinks followed to resolve one path (Linux `MAXSYMLINKS`); more is a loop.
pub const MAX_SYMLINK_HOPS: usize = 40;
/// Path components walked to resolve one path, symlink targets included.
const MAX_STEPS_PER_PATH: usize = 8192;
/// Path components walked to resolve every path of one image: a few per entry in real
/// images; adversarial symlink chains stop here instead of taking minutes.
pub const MAX_RESOLVE_STEPS: u64 = 1 << 26;
/// What the scanner keeps for one image: names of the directories, symlinks and candidate
/// files it tracks, link targets and os-release texts, plus an estimate of the per-node
/// overhead. Real images need a few MiB (one node per symlink: tens of thousands).
pub const MAX_TRACKED_BYTES: usize = 64 << 20;
const NODE_OVERHEAD: usize = 96;
/// A layer may expand to this many times `--max-layer-size` uncompressed (a gzip bomb
/// stops there rather than inflating for an hour).
pub const EXPANSION_FACTOR: u64 = 32;

#[derive(Debug)]
enum NodeKind {
    Dir(HashMap<Vec<u8>, usize>),
    /// A candidate file (by name); its text when it is an os-release file.
    File(Option<Vec<u8>>),
    Symlink(Vec<u8>),
}

#[derive(Debug)]
struct Node {
    kind: NodeKind,
    /// The last layer that created or named it (opaque whiteouts keep those of their layer).
    layer: usize,
}

/// The image filesystem as far as facts need it, built layer by layer. Node 0 is the root.
#[derive(Debug)]
pub struct FilesystemScanner {
    nodes: Vec<Node>,
    layers: usize,
    /// Bytes kept so far (never decreases: removed nodes are not reused).
    tracked: usize,
    /// Resolution steps taken so far.
    steps: u64,
    max_uncompressed: u64,
}

impl Default for FilesystemScanner {
    fn default() -> Self {
        FilesystemScanner::with_max_layer_size(crate::DEFAULT_MAX_LAYER_SIZE)
    }
}

/// `name` is one a fact depends on: a shell, a package-manager binary or database, an
/// os-release file. Only these (and every symlink) are kept.
fn is_candidate(name: &[u8]) -> bool {
    let Ok(name) = std::str::from_utf8(name) else {
        return false;
    };
    SHELLS.contains(&name)
        || MANAGER_BINARIES.iter().any(|(b, _)| *b == name)
        || is_pip(name)
        || name == "os-release"
        || MANAGER_DATABASES
            .iter()
            .any(|(p, _)| p.rsplit('/').next() == Some(name))
}

/// `pip`, `pip3`, `pip3.12`.
fn is_pip(name: &str) -> bool {
    name.strip_prefix("pip")
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// A tar entry name cleaned as containerd cleans it (`filepath.Join("/", name)`): empty and
/// `.` components dropped, `..` removes the one before it and stops at the root. Empty for
/// the root itself.
pub fn clean_path(name: &[u8]) -> Vec<&[u8]> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in name.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts
}

fn display(parts: &[Vec<u8>]) -> String {
    let joined: Vec<String> = parts
        .iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let text = joined.join("/");
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Counts the uncompressed bytes of a layer and stops past the cap.
struct Expansion<R> {
    inner: R,
    read: u64,
    cap: u64,
}

impl<R: Read> Read for Expansion<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.cap {
            return Err(std::io::Error::other(format!(
                "the layer expands to more than {} uncompressed ({EXPANSION_FACTOR} × --max-layer-size)",
                human_size(self.cap)
            )));
        }
        Ok(n)
    }
}

impl FilesystemScanner {
    pub fn new() -> FilesystemScanner {
        FilesystemScanner::default()
    }

    /// A scanner for layers of at most `max_layer_size` bytes as stored: each may expand to
    /// [`EXPANSION_FACTOR`] times that (at least 1 GiB).
    pub fn with_max_layer_size(max_layer_size: u64) -> FilesystemScanner {
        FilesystemScanner {
            nodes: vec![Node {
                kind: NodeKind::Dir(HashMap::new()),
                layer: 0,
            }],
            layers: 0,
            tracked: 0,
            steps: 0,
            max_uncompressed: max_layer_size.saturating_mul(EXPANSION_FACTOR).max(1 << 30),
        }
    }

    /// Bytes the scanner keeps (bounded by [`MAX_TRACKED_BYTES`]).
    pub fn tracked_bytes(&self) -> usize {
        self.tracked
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
        let cap = self.max_uncompressed;
        if head.starts_with(&[0x1f, 0x8b]) {
            // Multi-member: parallel gzip writers (umoci, pigz) emit one member per block.
            let mut gz = Expansion {
                inner: flate2::read::MultiGzDecoder::new(reader),
                read: 0,
                cap,
            };
            self.read_tar(&mut gz, layer)?;
            drain(&mut gz)?;
            drain(gz.inner.get_mut())
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Err("zstd-compressed layers are not supported".to_string())
        } else {
            let mut plain = Expansion {
                inner: reader,
                read: 0,
                cap,
            };
            self.read_tar(&mut plain, layer)?;
            drain(&mut plain)
        }
    }

    fn read_tar(&mut self, reader: &mut dyn Read, layer: usize) -> Result<(), String> {
        let mut tar = TarReader::new(Streamed(reader));
        while let Some(header) = tar
            .next_entry()
            .map_err(|e| format!("reading the layer tar: {e}"))?
        {
            let cleaned = clean_path(&header.name);
            let Some((name, dir)) = cleaned.split_last() else {
                continue; // the root itself
            };
            let length = cleaned.iter().map(|p| p.len() + 1).sum::<usize>();
            if length > MAX_PATH_BYTES {
                return Err(format!(
                    "reading the layer tar: an entry path of {length} bytes once cleaned, longer than {MAX_PATH_BYTES} (PATH_MAX): no runtime can extract it"
                ));
            }
            let name = name.to_vec();
            let dir: Vec<Vec<u8>> = dir.iter().map(|p| p.to_vec()).collect();
            let parent = self.resolve_for_entry(&dir, &name)?;
            // Whiteouts: `.wh..wh..opq` hides what lower layers have in the directory;
            // `.wh.NAME` deletes NAME and everything below it; other `.wh..wh.` names are
            // aufs metadata, ignored as runtimes ignore them.
            if let Some(deleted) = name.strip_prefix(b".wh.") {
                if deleted == b".wh..opq" {
                    self.opaque(&parent, layer);
                } else if !deleted.starts_with(b".wh.") && !matches!(deleted, b"" | b"." | b"..") {
                    let mut target = parent;
                    target.push(deleted.to_vec());
                    self.remove(&target);
                }
                continue;
            }
            let mut path = parent;
            path.push(name.clone());
            match header.kind {
                Kind::Directory => match self.lookup(&path) {
                    Some(id) if matches!(self.nodes[id].kind, NodeKind::Dir(_)) => {
                        self.nodes[id].layer = layer;
                    }
                    Some(_) => self.remove(&path),
                    None => {}
                },
                Kind::Special => self.remove(&path),
                Kind::Symlink => {
                    self.remove(&path);
                    self.insert(&path, NodeKind::Symlink(header.link.clone()), layer)?;
                }
                Kind::HardLink => {
                    // Same content as its target (a member name, cleaned the same way).
                    let target = clean_path(&header.link);
                    let linked = match target.split_last() {
                        Some((last, dir)) => {
                            let dir: Vec<Vec<u8>> = dir.iter().map(|p| p.to_vec()).collect();
                            let mut target = self.resolve_for_entry(&dir, last)?;
                            target.push(last.to_vec());
                            self.lookup(&target).map(|id| match &self.nodes[id].kind {
                                NodeKind::Symlink(to) => NodeKind::Symlink(to.clone()),
                                NodeKind::File(text) => NodeKind::File(text.clone()),
                                NodeKind::Dir(_) => NodeKind::File(None),
                            })
                        }
                        None => None,
                    };
                    self.remove(&path);
                    let kind = linked.unwrap_or(NodeKind::File(None));
                    if matches!(kind, NodeKind::Symlink(_)) || is_candidate(&name) {
                        self.insert(&path, kind, layer)?;
                    }
                }
                Kind::Regular => {
                    self.remove(&path);
                    if is_candidate(&name) {
                        let text = if name == b"os-release" && header.size <= OS_RELEASE_MAX {
                            let mut text = Vec::with_capacity(header.size as usize);
                            tar.data().read_to_end(&mut text).map_err(|e| {
                                format!("reading {} in the layer: {e}", display(&path))
                            })?;
                            Some(text)
                        } else {
                            None
                        };
                        self.insert(&path, NodeKind::File(text), layer)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The real directory an entry named `dir/name` lands in, or an error naming it when
    /// its directories loop through symlinks.
    fn resolve_for_entry(&mut self, dir: &[Vec<u8>], name: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let (resolved, steps) = self.resolve(dir, true);
        self.steps += steps as u64;
        if self.steps > MAX_RESOLVE_STEPS {
            return Err(format!(
                "reading the layer tar: resolving symlinks took more than {MAX_RESOLVE_STEPS} steps for this image"
            ));
        }
        resolved.ok_or_else(|| {
            let mut path = dir.to_vec();
            path.push(name.to_vec());
            format!(
                "reading the layer tar: `{}` cannot be extracted: its directories loop through symlinks (more than {MAX_SYMLINK_HOPS}) or go too deep",
                display(&path)
            )
        })
    }

    /// Where `parts` leads, following symlinks in its directories (and in its last part
    /// when `follow_last`) as the kernel does inside a chroot. `None` for a loop. Also
    /// returns the steps taken.
    fn resolve(&self, parts: &[Vec<u8>], follow_last: bool) -> (Option<Vec<Vec<u8>>>, usize) {
        let mut pending: Vec<Vec<u8>> = parts.iter().rev().cloned().collect();
        let mut out: Vec<Vec<u8>> = Vec::new();
        // The node of each part of `out`, when the tree has it.
        let mut ids: Vec<Option<usize>> = Vec::new();
        let (mut hops, mut steps) = (0, 0);
        while let Some(part) = pending.pop() {
            steps += 1;
            if steps > MAX_STEPS_PER_PATH {
                return (None, steps);
            }
            match part.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    out.pop();
                    ids.pop();
                    continue;
                }
                _ => {}
            }
            let parent = match ids.last() {
                None => Some(0),
                Some(id) => *id,
            };
            let child = parent.and_then(|p| match &self.nodes[p].kind {
                NodeKind::Dir(children) => children.get(&part).copied(),
                _ => None,
            });
            let last = pending.is_empty();
            if let Some(id) = child
                && let NodeKind::Symlink(target) = &self.nodes[id].kind
                && (follow_last || !last)
            {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return (None, steps);
                }
                if target.starts_with(b"/") {
                    out.clear();
                    ids.clear();
                }
                pending.extend(target.split(|b| *b == b'/').rev().map(<[u8]>::to_vec));
                continue;
            }
            out.push(part);
            ids.push(child);
        }
        (Some(out), steps)
    }

    /// The node at a resolved path.
    fn lookup(&self, parts: &[Vec<u8>]) -> Option<usize> {
        let mut id = 0;
        for part in parts {
            id = match &self.nodes[id].kind {
                NodeKind::Dir(children) => *children.get(part)?,
                _ => return None,
            };
        }
        Some(id)
    }

    fn remove(&mut self, parts: &[Vec<u8>]) {
        let Some((last, dir)) = parts.split_last() else {
            return;
        };
        if let Some(id) = self.lookup(dir)
            && let NodeKind::Dir(children) = &mut self.nodes[id].kind
        {
            children.remove(last);
        }
    }

    /// Puts `kind` at a resolved path, creating its directories. A path through a file
    /// (which no runtime can extract) is skipped.
    fn insert(&mut self, parts: &[Vec<u8>], kind: NodeKind, layer: usize) -> Result<(), String> {
        let Some((last, dir)) = parts.split_last() else {
            return Ok(());
        };
        let mut id = 0;
        for part in dir {
            let NodeKind::Dir(children) = &self.nodes[id].kind else {
                return Ok(());
            };
            id = match children.get(part) {
                Some(&child) => {
                    self.nodes[child].layer = layer;
                    child
                }
                None => {
                    let child = self.new_node(part, NodeKind::Dir(HashMap::new()), layer)?;
                    if let NodeKind::Dir(children) = &mut self.nodes[id].kind {
                        children.insert(part.clone(), child);
                    }
                    child
                }
            };
        }
        if !matches!(self.nodes[id].kind, NodeKind::Dir(_)) {
            return Ok(());
        }
        let child = self.new_node(last, kind, layer)?;
        if let NodeKind::Dir(children) = &mut self.nodes[id].kind {
            children.insert(last.clone(), child);
        }
        Ok(())
    }

    fn new_node(&mut self, name: &[u8], kind: NodeKind, layer: usize) -> Result<usize, String> {
        let payload = match &kind {
            NodeKind::Dir(_) => 0,
            NodeKind::File(text) => text.as_ref().map_or(0, Vec::len),
            NodeKind::Symlink(target) => target.len(),
        };
        self.tracked += NODE_OVERHEAD + 2 * name.len() + payload;
        if self.tracked > MAX_TRACKED_BYTES {
            return Err(format!(
                "the image has more symlinks and candidate files than the scanner keeps ({} of names, targets and os-release texts)",
                human_size(MAX_TRACKED_BYTES as u64)
            ));
        }
        self.nodes.push(Node { kind, layer });
        Ok(self.nodes.len() - 1)
    }

    /// An opaque whiteout in `layer`: what lower layers put in the directory goes; what
    /// this layer put there stays.
    fn opaque(&mut self, dir: &[Vec<u8>], layer: usize) {
        let Some(start) = self.lookup(dir) else {
            return;
        };
        let mut stack = vec![start];
        while let Some(id) = stack.pop() {
            let NodeKind::Dir(children) = &self.nodes[id].kind else {
                continue;
            };
            let (lower, kept): (Vec<_>, Vec<_>) = children
                .iter()
                .map(|(name, &child)| (name.clone(), child))
                .partition(|(_, child)| self.nodes[*child].layer < layer);
            if let NodeKind::Dir(children) = &mut self.nodes[id].kind {
                for (name, _) in &lower {
                    children.remove(name);
                }
            }
            stack.extend(kept.into_iter().map(|(_, child)| child));
        }
    }

    /// The node a fixed path leads to, following every symlink.
    fn find(&self, path: &str, follow_last: bool) -> Option<usize> {
        let parts: Vec<Vec<u8>> = path.split('/').map(|p| p.as_bytes().to_vec()).collect();
        let (resolved, _) = self.resolve(&parts, follow_last);
        self.lookup(&resolved?)
    }

    /// The facts of the layers read so far.
    pub fn finish(self) -> FilesystemFacts {
        let mut shells = Vec::new();
        let mut managers = Vec::new();
        for dir in BIN_DIRS {
            let Some(id) = self.find(dir, true) else {
                continue;
            };
            let NodeKind::Dir(children) = &self.nodes[id].kind else {
                continue;
            };
            for (name, &child) in children {
                if matches!(self.nodes[child].kind, NodeKind::Dir(_)) {
                    continue;
                }
                let Ok(name) = std::str::from_utf8(name) else {
                    continue;
                };
                if SHELLS.contains(&name) {
                    shells.push(name.to_string());
                }
                if let Some((_, manager)) = MANAGER_BINARIES.iter().find(|(b, _)| *b == name) {
                    managers.push(manager.to_string());
                } else if is_pip(name) {
                    managers.push("pip".to_string());
                }
            }
        }
        for (path, manager) in MANAGER_DATABASES {
            if self
                .find(path, false)
                .is_some_and(|id| !matches!(self.nodes[id].kind, NodeKind::Dir(_)))
            {
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

    /// `/etc/os-release` (usually a symlink to `../usr/lib/os-release`, followed), else
    /// `/usr/lib/os-release`.
    fn os_release(&self) -> Option<OsRelease> {
        let text = |id: usize| match &self.nodes[id].kind {
            NodeKind::File(Some(bytes)) => OsRelease::parse(&String::from_utf8_lossy(bytes)),
            _ => None,
        };
        match self.find(OS_RELEASE_PATHS[0], true) {
            Some(id) if matches!(self.nodes[id].kind, NodeKind::File(_)) => text(id),
            _ => self.find(OS_RELEASE_PATHS[1], true).and_then(text),
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
    use crate::tarball::tests::{entry, header, pax_record};

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

    /// A tar written header by header, names exactly as given (`tar::Builder` refuses
    /// `..` and cleans names): (name, typeflag, data, link).
    fn raw_layer(entries: &[(&str, u8, &str, &str)]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (name, typeflag, data, link) in entries {
            entry(
                &mut tar,
                name.as_bytes(),
                *typeflag,
                data.as_bytes(),
                link.as_bytes(),
            );
        }
        tar.extend_from_slice(&[0; 1024]);
        tar
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    fn facts_of(layers: &[Vec<u8>]) -> FilesystemFacts {
        let mut scanner = FilesystemScanner::new();
        for layer in layers {
            scanner.add_layer(&layer[..]).unwrap();
        }
        scanner.finish()
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

    /// Issue 10: `bin//sh`, `usr/bin/./bash`, `sbin/./apk` and `var/lib//dpkg/status` are
    /// extracted to the usual paths, but were not seen, so `non-minimal-image` passed.
    #[test]
    fn unusual_spellings_of_shell_and_package_manager_paths_are_found() {
        let facts = facts_of(&[gzip(&raw_layer(&[
            ("bin//sh", b'0', "elf", ""),
            ("usr/bin/./bash", b'0', "elf", ""),
            ("sbin/./apk", b'0', "elf", ""),
            ("var/lib//dpkg/status", b'0', "Package: x", ""),
            ("./usr/./lib/../lib/os-release", b'0', "ID=debian\n", ""),
            ("/etc//os-release/", b'2', "", "../usr/lib/os-release"),
        ]))]);
        assert_eq!(facts.shells, vec!["bash", "sh"]);
        assert_eq!(facts.package_managers, vec!["apk", "dpkg"]);
        assert_eq!(facts.os_release.map(|o| o.id).as_deref(), Some("debian"));
    }

    #[test]
    fn dot_dot_is_resolved_and_stops_at_the_root() {
        let facts = facts_of(&[raw_layer(&[
            ("../bin/sh", b'0', "elf", ""),
            ("usr/lib/../bin/dash", b'0', "elf", ""),
            ("tmp/x/../../sbin/apk", b'0', "elf", ""),
            ("../../../../usr/local/bin/pip3", b'0', "elf", ""),
        ])]);
        assert_eq!(facts.shells, vec!["dash", "sh"]);
        assert_eq!(facts.package_managers, vec!["apk", "pip"]);
    }

    #[test]
    fn files_under_symlinked_directories_land_where_the_links_point() {
        // Written through a link to a bin directory; and a bin directory that is a link to
        // where the shell was written.
        let facts = facts_of(&[
            raw_layer(&[
                ("tools", b'2', "", "/usr/bin"),
                ("opt/sbin-real", b'5', "", ""),
                ("sbin", b'2', "", "opt/sbin-real"),
                ("var/lib/pkgdb", b'2', "", "../../var/lib/dpkg"),
            ]),
            raw_layer(&[
                ("tools/bash", b'0', "elf", ""),
                ("opt/sbin-real/apk", b'0', "elf", ""),
                ("var/lib/pkgdb/status", b'0', "Package: x", ""),
            ]),
        ]);
        assert_eq!(facts.shells, vec!["bash"]);
        assert_eq!(facts.package_managers, vec!["apk", "dpkg"]);
    }

    #[test]
    fn whiteouts_and_opaque_directories_apply_after_cleaning() {
        let facts = facts_of(&[
            raw_layer(&[
                ("bin/bash", b'0', "elf", ""),
                ("bin/sh", b'0', "elf", ""),
                ("usr/bin/zsh", b'0', "elf", ""),
                ("var/lib/dpkg/status", b'0', "Package: x", ""),
            ]),
            raw_layer(&[
                ("./bin//.wh.bash", b'0', "", ""),
                ("usr/./bin/.wh..wh..opq/", b'0', "", ""),
                ("var/x/../lib/.wh.dpkg", b'0', "", ""),
            ]),
        ]);
        assert_eq!(facts.shells, vec!["sh"]);
        assert!(facts.package_managers.is_empty(), "{facts:?}");
    }

    #[test]
    fn hard_links_carry_their_target_and_replace_what_was_there() {
        let facts = facts_of(&[raw_layer(&[
            ("usr/lib/os-release", b'0', "ID=alpine\n", ""),
            ("etc/os-release", b'1', "", "./usr//lib/os-release"),
            ("bin/busybox", b'0', "elf", ""),
            ("usr/bin/ash", b'1', "", "bin/busybox"),
        ])]);
        assert_eq!(facts.shells, vec!["ash", "busybox"]);
        assert_eq!(facts.os_release.map(|o| o.id).as_deref(), Some("alpine"));
    }

    #[test]
    fn a_directory_or_device_replaces_a_file_of_a_lower_layer() {
        let facts = facts_of(&[
            raw_layer(&[("bin/sh", b'0', "elf", ""), ("bin/bash", b'0', "elf", "")]),
            raw_layer(&[("bin/sh/", b'5', "", ""), ("bin/bash", b'6', "", "")]),
        ]);
        assert!(facts.shells.is_empty(), "{facts:?}");
    }

    /// Issue 10: a gzip layer whose GNU long-name header claims 1.5 GiB made the tar crate
    /// read it all into memory (the process aborted at 4.3 GB). The record is refused at
    /// its header, after reading a few blocks of it at most.
    #[test]
    fn a_huge_gnu_long_name_is_refused_without_reading_it() {
        struct Endless {
            header: Vec<u8>,
            served: std::rc::Rc<std::cell::Cell<u64>>,
        }
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let offset = self.served.get() as usize;
                let n = buf.len().min(64 * 1024);
                for (i, byte) in buf[..n].iter_mut().enumerate() {
                    *byte = self.header.get(offset + i).copied().unwrap_or(b'a');
                }
                self.served.set(self.served.get() + n as u64);
                Ok(n)
            }
        }
        let served = std::rc::Rc::new(std::cell::Cell::new(0));
        let endless = Endless {
            header: header(b"././@LongLink", b'L', 1536 << 20, b"").to_vec(),
            served: served.clone(),
        };
        let gz = flate2::read::GzEncoder::new(endless, flate2::Compression::fast());
        let mut scanner = FilesystemScanner::new();
        let error = scanner.add_layer(gz.take(64 << 20)).unwrap_err();
        assert!(
            error.contains("GNU long name") && error.contains("cap"),
            "{error}"
        );
        assert!(served.get() < 8 << 20, "read {} bytes", served.get());
    }

    #[test]
    fn pax_records_name_entries_and_size_them() {
        let mut tar = Vec::new();
        entry(
            &mut tar,
            b"x",
            b'x',
            &pax_record("path", b"usr/bin/bash"),
            b"",
        );
        entry(&mut tar, b"decoy", b'0', b"elf", b"");
        let mut records = pax_record("path", b"bin/sh");
        records.extend(pax_record("size", b"0"));
        entry(&mut tar, b"x", b'x', &records, b"");
        // The header claims data; PAX says none, as Go reads it: the next block is a header.
        tar.extend_from_slice(&header(b"decoy2", b'0', 512, b""));
        entry(&mut tar, b"sbin/apk", b'0', b"elf", b"");
        let facts = facts_of(&[tar]);
        assert_eq!(facts.shells, vec!["bash", "sh"]);
        assert_eq!(facts.package_managers, vec!["apk"]);
    }

    #[test]
    fn symlink_loops_and_overlong_paths_are_errors_for_the_layer() {
        let mut scanner = FilesystemScanner::new();
        let error = scanner
            .add_layer(
                &raw_layer(&[
                    ("a", b'2', "", "b"),
                    ("b", b'2', "", "a"),
                    ("a/sh", b'0', "elf", ""),
                ])[..],
            )
            .unwrap_err();
        assert!(error.contains("loop"), "{error}");
        let mut tar = Vec::new();
        let deep = "d/".repeat(3000) + "sh";
        entry(
            &mut tar,
            b"x",
            b'x',
            &pax_record("path", deep.as_bytes()),
            b"",
        );
        entry(&mut tar, b"short", b'0', b"", b"");
        let error = FilesystemScanner::new().add_layer(&tar[..]).unwrap_err();
        assert!(error.contains("PATH_MAX"), "{error}");
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_expansion_cap() {
        let zeros = std::io::repeat(0).take(3 << 20);
        let mut gz = flate2::read::GzEncoder::new(zeros, flate2::Compression::best());
        let mut bomb = Vec::new();
        gz.read_to_end(&mut bomb).unwrap();
        // The cap is at least 1 GiB; a smaller one keeps the test quick.
        let mut scanner = FilesystemScanner::with_max_layer_size(1024);
        scanner.max_uncompressed = 2 << 20;
        let error = scanner.add_layer(&bomb[..]).unwrap_err();
        assert!(error.contains("expands"), "{error}");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Canonical paths a fact depends on, and a file elsewhere.
        const PATHS: [&str; 10] = [
            "bin/sh",
            "bin/bash",
            "usr/bin/dash",
            "sbin/apk",
            "usr/sbin/dpkg",
            "usr/local/bin/pip3",
            "var/lib/dpkg/status",
            "lib/apk/db/installed",
            "usr/lib/sysimage/rpm/rpmdb.sqlite",
            "opt/app/sh",
        ];

        /// One way of writing `path` that tar extraction places at `path`.
        fn spelling(path: &'static str) -> impl Strategy<Value = String> {
            let parts: Vec<&'static str> = path.split('/').collect();
            (
                0..4usize,
                proptest::collection::vec(0..6usize, parts.len()),
                any::<bool>(),
            )
                .prop_map(move |(lead, seps, trailing)| {
                    let mut text = ["", "./", "/", ".//./"][lead].to_string();
                    for (i, part) in parts.iter().enumerate() {
                        text.push_str(part);
                        if i + 1 < parts.len() {
                            text.push_str(
                                &["/", "//", "/./", "/x/../", "/./../", "///./"][seps[i]]
                                    .replace("/./../", &format!("/../{part}/")),
                            );
                        }
                    }
                    if trailing {
                        text.push('/');
                    }
                    text
                })
        }

        /// (which of [`PATHS`], how it is spelled, how the name is written).
        type Spelled = (usize, String, u8);

        /// How a name reaches the reader: the header, a GNU long name or a PAX path.
        fn write(tar: &mut Vec<u8>, name: &str, how: u8, data: &[u8]) {
            match how % 3 {
                0 if name.len() < 100 => entry(tar, name.as_bytes(), b'0', data, b""),
                1 => {
                    let mut long = name.as_bytes().to_vec();
                    long.push(0);
                    entry(tar, b"././@LongLink", b'L', &long, b"");
                    entry(tar, b"truncated", b'0', data, b"");
                }
                _ => {
                    entry(
                        tar,
                        b"PaxHeader",
                        b'x',
                        &pax_record("path", name.as_bytes()),
                        b"",
                    );
                    entry(tar, b"truncated", b'0', data, b"");
                }
            }
        }

        fn spelled_layers() -> impl Strategy<Value = (Vec<Spelled>, Vec<Spelled>)> {
            let file =
                (0..PATHS.len()).prop_flat_map(|i| (Just(i), spelling(PATHS[i]), any::<u8>()));
            (
                proptest::collection::vec(file.clone(), 0..8),
                proptest::collection::vec(file, 0..4),
            )
        }

        fn build(files: &[Spelled], deletions: &[Spelled], canonical: bool) -> Vec<Vec<u8>> {
            let mut lower = Vec::new();
            for (i, spelled, how) in files {
                let name = if canonical { PATHS[*i] } else { spelled };
                write(&mut lower, name, if canonical { 0 } else { *how }, b"x");
            }
            lower.extend_from_slice(&[0; 1024]);
            let mut upper = Vec::new();
            for (i, spelled, how) in deletions {
                let (dir, name) = PATHS[*i].rsplit_once('/').unwrap();
                let whiteout = if canonical {
                    format!("{dir}/.wh.{name}")
                } else {
                    let spelled = spelled.trim_end_matches('/');
                    let (dir, _) = spelled.rsplit_once('/').unwrap();
                    format!("{dir}/.wh.{name}")
                };
                write(&mut upper, &whiteout, if canonical { 0 } else { *how }, b"");
            }
            upper.extend_from_slice(&[0; 1024]);
            vec![lower, upper]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any spelling that extracts to the same place yields the same facts.
            #[test]
            fn spellings_do_not_change_facts((files, deletions) in spelled_layers(), compress in any::<bool>()) {
                let canonical = facts_of(&build(&files, &deletions, true));
                let mut spelled = build(&files, &deletions, false);
                if compress {
                    spelled = spelled.iter().map(|l| gzip(l)).collect();
                }
                prop_assert_eq!(facts_of(&spelled), canonical);
            }

            /// Arbitrary bytes never panic the reader.
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
                let mut scanner = FilesystemScanner::new();
                let _ = scanner.add_layer(&bytes[..]);
                let mut gz = vec![0x1f, 0x8b];
                gz.extend_from_slice(&bytes);
                let _ = scanner.add_layer(&gz[..]);
                prop_assert!(scanner.tracked_bytes() <= MAX_TRACKED_BYTES);
                let _ = scanner.finish();
            }

            /// Valid layers with bytes flipped, compressed or not, never panic, and what
            /// the scanner keeps stays under its cap.
            #[test]
            fn mutated_layers_never_panic(
                (files, deletions) in spelled_layers(),
                flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16),
                compress in any::<bool>(),
            ) {
                let mut scanner = FilesystemScanner::new();
                for layer in build(&files, &deletions, false) {
                    let mut bytes = if compress { gzip(&layer) } else { layer };
                    for (at, value) in &flips {
                        let len = bytes.len();
                        bytes[at % len] ^= value;
                    }
                    let _ = scanner.add_layer(&bytes[..]);
                    prop_assert!(scanner.tracked_bytes() <= MAX_TRACKED_BYTES);
                }
                let _ = scanner.finish();
            }
        }
    }
}
