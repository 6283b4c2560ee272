//! A streaming tar reader that sees entries the way container runtimes do.
//!
//! containerd and Docker extract layers with Go's `archive/tar`; a reader that parses a tar
//! differently from it can be shown a different file list than the one a node extracts
//! (a PAX `size` that disagrees with the header's, data after a symlink header, a GNU long
//! name after a global header). So this follows `archive/tar`'s rules, and bounds what it
//! keeps: extension headers (PAX `x`/`g`, GNU `L`/`K`) are read into memory only up to
//! [`MAX_EXTENSION_BYTES`] (Go's own limit), names and link targets up to [`MAX_NAME_BYTES`];
//! past either the layer is an error. Entry data is never buffered here: the caller reads
//! what it wants of it, and the rest is skipped.

use std::io::{self, Read, Seek, SeekFrom};

/// Largest PAX extended header or GNU long name/link record: 1 MiB, as Go's `archive/tar`
/// (`maxSpecialFileSize`); a runtime refuses a layer with a bigger one too.
pub const MAX_EXTENSION_BYTES: u64 = 1 << 20;
/// Largest entry name or link target, as written (before `./` and `//` are cleaned away):
/// 64 KiB. A name a runtime can extract is at most 4 KiB once cleaned (Linux `PATH_MAX`).
pub const MAX_NAME_BYTES: usize = 64 << 10;

const BLOCK: u64 = 512;

/// What a tar entry is, after the GNU and PAX extensions that describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `0`, `\0` (without a final `/`), `7` (contiguous), `S` (GNU sparse) and types no
    /// runtime knows: all are data written at the entry's path.
    Regular,
    /// `1`: a hard link to `link`.
    HardLink,
    /// `2`: a symbolic link to `link`.
    Symlink,
    /// `5`, or `\0` with a name ending in `/`.
    Directory,
    /// `3`, `4`, `6`: character and block devices, FIFOs.
    Special,
}

/// One entry: its name and link target as written (not cleaned), and its data size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub name: Vec<u8>,
    pub link: Vec<u8>,
    /// Bytes of data that follow (0 for links, directories and devices, whatever the
    /// header says: Go reads none for them).
    pub size: u64,
}

/// Why a tar stream cannot be read.
#[derive(Debug)]
pub enum TarError {
    Io(io::Error),
    /// Not a tar, or a corrupt one.
    Corrupt(String),
    /// Over one of this module's caps.
    TooLarge(String),
}

impl std::fmt::Display for TarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TarError::Io(e) => write!(f, "{e}"),
            TarError::Corrupt(message) | TarError::TooLarge(message) => f.write_str(message),
        }
    }
}

impl From<io::Error> for TarError {
    fn from(e: io::Error) -> TarError {
        TarError::Io(e)
    }
}

/// A byte source that can skip ahead: by reading (a stream) or by seeking (a file).
pub trait Source: Read {
    /// Skips up to `n` bytes; returns how many there were (fewer at the end).
    fn skip(&mut self, n: u64) -> io::Result<u64>;
}

/// A stream, skipped by reading it (so digests and size caps downstream see every byte).
pub struct Streamed<R>(pub R);

impl<R: Read> Read for Streamed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> Source for Streamed<R> {
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        io::copy(&mut (&mut self.0).take(n), &mut io::sink())
    }
}

/// A file, skipped by seeking (a `docker save` archive is indexed without reading its layers).
pub struct Seeked {
    file: std::fs::File,
    position: u64,
    len: u64,
}

impl Seeked {
    pub fn new(file: std::fs::File) -> io::Result<Seeked> {
        let len = file.metadata()?.len();
        Ok(Seeked {
            file,
            position: 0,
            len,
        })
    }
}

impl Read for Seeked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl Source for Seeked {
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        // Seeking past the end succeeds silently: clamp to the file's length.
        let skipped = n.min(self.len.saturating_sub(self.position));
        self.position += skipped;
        self.file.seek(SeekFrom::Start(self.position))?;
        Ok(skipped)
    }
}

/// Reads headers one after the other; [`TarReader::data`] reads the current entry's data.
pub struct TarReader<S> {
    source: S,
    /// Data of the current entry not read yet.
    remaining: u64,
    /// Padding after the current entry's data.
    padding: u64,
    /// Offset of the next byte in the stream.
    position: u64,
    done: bool,
}

/// PAX records that change how an entry is read.
#[derive(Debug, Default)]
struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
    sparse_major: Option<Vec<u8>>,
    sparse_minor: Option<Vec<u8>>,
    sparse_name: Option<Vec<u8>>,
    sparse_map: bool,
}

impl<S: Source> TarReader<S> {
    pub fn new(source: S) -> TarReader<S> {
        TarReader {
            source,
            remaining: 0,
            padding: 0,
            position: 0,
            done: false,
        }
    }

    /// Offset in the stream of the current entry's data (the next unread byte of it).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The underlying source (to read what follows the archive).
    pub fn into_inner(self) -> S {
        self.source
    }

    /// The current entry's data, or what is left of it.
    pub fn data(&mut self) -> EntryData<'_, S> {
        EntryData { reader: self }
    }

    /// The next entry, or `None` at the end of the archive.
    pub fn next_entry(&mut self) -> Result<Option<Header>, TarError> {
        if self.done {
            return Ok(None);
        }
        // The rest of the previous entry: its data must all be there; its padding may be
        // missing at the very end (some writers end a layer without it and without the
        // end-of-archive blocks; Go then reads the end of the archive, and so does this).
        let remaining = std::mem::take(&mut self.remaining);
        if self.skip(remaining)? < remaining {
            return Err(TarError::Corrupt(
                "the tar ends inside an entry's data".into(),
            ));
        }
        let padding = std::mem::take(&mut self.padding);
        if self.skip(padding)? < padding {
            self.done = true;
            return Ok(None);
        }

        let mut pax: Option<Pax> = None;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        loop {
            let Some(block) = self.read_block()? else {
                // Go ends the archive here too, even after extension headers.
                self.done = true;
                return Ok(None);
            };
            if block.iter().all(|b| *b == 0) {
                // End of archive: two zero blocks, or one and the end of the stream.
                match self.read_block()? {
                    None => {}
                    Some(next) if next.iter().all(|b| *b == 0) => {}
                    Some(_) => {
                        return Err(TarError::Corrupt(
                            "a zero block followed by a header: not a tar Go reads".into(),
                        ));
                    }
                }
                self.done = true;
                return Ok(None);
            }
            let format = format(&block)?;
            let typeflag = block[156];
            let header_size = parse_size(&block[124..136])?;
            match typeflag {
                b'x' | b'g' => {
                    let data = self.read_extension(header_size, "PAX extended header")?;
                    if typeflag == b'g' {
                        // Go returns a global header as an entry of its own (runtimes ignore
                        // it), which drops any extension read before it.
                        pax = None;
                        long_name = None;
                        long_link = None;
                    } else {
                        pax = Some(parse_pax(&data)?);
                    }
                    continue;
                }
                b'L' | b'K' => {
                    let data = self.read_extension(header_size, "GNU long name")?;
                    let value = c_string(&data).to_vec();
                    if typeflag == b'L' {
                        long_name = Some(value);
                    } else {
                        long_link = Some(value);
                    }
                    continue;
                }
                _ => {}
            }

            let mut name = c_string(&block[..100]).to_vec();
            let prefix = match format {
                Format::Ustar => c_string(&block[345..500]),
                Format::Star => c_string(&block[345..476]),
                Format::Gnu | Format::V7 => &[][..],
            };
            if !prefix.is_empty() {
                let mut joined = prefix.to_vec();
                joined.push(b'/');
                joined.extend_from_slice(&name);
                name = joined;
            }
            let mut link = c_string(&block[157..257]).to_vec();
            let mut size = header_size;
            // Go's order: PAX records, then GNU long names, then the GNU sparse name.
            let pax = pax.take().unwrap_or_default();
            if let Some(path) = &pax.path {
                name.clone_from(path);
            }
            if let Some(path) = &pax.linkpath {
                link.clone_from(path);
            }
            if let Some(pax_size) = pax.size {
                size = pax_size;
            }
            if let Some(long) = long_name.take().filter(|n| !n.is_empty()) {
                name = long;
            }
            if let Some(long) = long_link.take().filter(|l| !l.is_empty()) {
                link = long;
            }
            let kind = match typeflag {
                b'\0' if name.ends_with(b"/") => Kind::Directory,
                b'1' => Kind::HardLink,
                b'2' => Kind::Symlink,
                b'3' | b'4' | b'6' => Kind::Special,
                b'5' => Kind::Directory,
                _ => Kind::Regular,
            };
            if typeflag != b'S'
                && pax_sparse(&pax)
                && let Some(sparse_name) = pax.sparse_name.filter(|n| !n.is_empty())
            {
                name = sparse_name;
            }
            if name.len() > MAX_NAME_BYTES || link.len() > MAX_NAME_BYTES {
                return Err(TarError::TooLarge(format!(
                    "an entry name or link target of {} bytes, over the cap of {} KiB",
                    name.len().max(link.len()),
                    MAX_NAME_BYTES >> 10
                )));
            }
            if typeflag == b'S' {
                if format != Format::Gnu {
                    return Err(TarError::Corrupt(
                        "a GNU sparse entry without a GNU header".into(),
                    ));
                }
                // Old GNU sparse maps continue in extension blocks after the header.
                let mut extended = block[482] != 0;
                while extended {
                    let Some(extension) = self.read_block()? else {
                        return Err(TarError::Corrupt("the tar ends inside a sparse map".into()));
                    };
                    extended = extension[504] != 0;
                }
            }
            let size = match kind {
                Kind::Regular => size,
                _ => 0,
            };
            self.remaining = size;
            self.padding = padding_of(size);
            return Ok(Some(Header {
                kind,
                name,
                link,
                size,
            }));
        }
    }

    /// One 512-byte block; `None` at the end of the stream.
    fn read_block(&mut self) -> Result<Option<[u8; 512]>, TarError> {
        let mut block = [0u8; 512];
        let mut filled = 0;
        while filled < block.len() {
            match self.source.read(&mut block[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.position += filled as u64;
        match filled {
            0 => Ok(None),
            512 => Ok(Some(block)),
            _ => Err(TarError::Corrupt("the tar ends inside a header".into())),
        }
    }

    /// The data of an extension header, capped, and its padding.
    fn read_extension(&mut self, size: u64, what: &str) -> Result<Vec<u8>, TarError> {
        if size > MAX_EXTENSION_BYTES {
            return Err(TarError::TooLarge(format!(
                "a {what} of {size} bytes, over the cap of {} KiB",
                MAX_EXTENSION_BYTES >> 10
            )));
        }
        let mut data = Vec::with_capacity(size as usize);
        let read = (&mut self.source).take(size).read_to_end(&mut data)?;
        self.position += read as u64;
        if (read as u64) < size {
            return Err(TarError::Corrupt(format!("the tar ends inside a {what}")));
        }
        let padding = padding_of(size);
        if self.skip(padding)? < padding {
            return Err(TarError::Corrupt(format!("the tar ends after a {what}")));
        }
        Ok(data)
    }

    fn skip(&mut self, n: u64) -> io::Result<u64> {
        if n == 0 {
            return Ok(0);
        }
        let skipped = self.source.skip(n)?;
        self.position += skipped;
        Ok(skipped)
    }
}

/// The data of the current entry.
pub struct EntryData<'a, S> {
    reader: &'a mut TarReader<S>,
}

impl<S: Source> Read for EntryData<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(self.reader.remaining.min(usize::MAX as u64) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.reader.source.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the tar ends inside an entry's data",
            ));
        }
        self.reader.remaining -= n as u64;
        self.reader.position += n as u64;
        Ok(n)
    }
}

fn padding_of(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    V7,
    /// USTAR or PAX: names may have a 155-byte prefix.
    Ustar,
    /// Schily's star: a 131-byte prefix.
    Star,
    Gnu,
}

/// The header's format, once its checksum holds (Go accepts a signed or an unsigned sum).
fn format(block: &[u8; 512]) -> Result<Format, TarError> {
    let stored = parse_octal(&block[148..156])
        .ok_or_else(|| TarError::Corrupt("not a tar header (bad checksum field)".into()))?;
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, byte) in block.iter().enumerate() {
        let byte = if (148..156).contains(&i) { b' ' } else { *byte };
        unsigned += i64::from(byte);
        signed += i64::from(byte as i8);
    }
    if stored as i64 != unsigned && stored as i64 != signed {
        return Err(TarError::Corrupt(
            "not a tar header (checksum mismatch)".into(),
        ));
    }
    let magic = &block[257..263];
    let version = &block[263..265];
    Ok(if magic == b"ustar\0" && &block[508..512] == b"tar\0" {
        Format::Star
    } else if magic == b"ustar\0" {
        Format::Ustar
    } else if magic == b"ustar " && version == b" \0" {
        Format::Gnu
    } else {
        Format::V7
    })
}

/// Up to the first NUL.
fn c_string(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|b| *b == 0) {
        Some(end) => &bytes[..end],
        None => bytes,
    }
}

/// Octal, padded with spaces and NULs (Go's `parseOctal`).
fn parse_octal(field: &[u8]) -> Option<u64> {
    let start = field.iter().position(|b| *b != b' ' && *b != 0);
    let Some(start) = start else { return Some(0) };
    let end = field.iter().rposition(|b| *b != b' ' && *b != 0)? + 1;
    let digits = c_string(&field[start..end]);
    if digits.is_empty() {
        return Some(0);
    }
    let mut value: u64 = 0;
    for digit in digits {
        if !(b'0'..=b'7').contains(digit) {
            return None;
        }
        value = value.checked_mul(8)?.checked_add(u64::from(digit - b'0'))?;
    }
    Some(value)
}

/// A size field: octal, or GNU base-256 when the first byte has its top bit set.
fn parse_size(field: &[u8]) -> Result<u64, TarError> {
    let bad = || TarError::Corrupt("not a tar header (bad size field)".into());
    if field[0] & 0x80 != 0 {
        if field[0] & 0x40 != 0 {
            return Err(TarError::Corrupt("a negative entry size".into()));
        }
        let mut value: u64 = 0;
        for (i, byte) in field.iter().enumerate() {
            let byte = if i == 0 { byte & 0x7f } else { *byte };
            if value >> 56 != 0 {
                return Err(bad());
            }
            value = value << 8 | u64::from(byte);
        }
        if value >> 63 != 0 {
            return Err(bad());
        }
        return Ok(value);
    }
    let value = parse_octal(field).ok_or_else(bad)?;
    if value >> 63 != 0 {
        return Err(bad());
    }
    Ok(value)
}

/// `LENGTH KEY=VALUE\n` records (Go's `parsePAX`): a malformed record is an error.
fn parse_pax(mut data: &[u8]) -> Result<Pax, TarError> {
    let bad = || TarError::Corrupt("a malformed PAX record".into());
    let mut pax = Pax::default();
    while !data.is_empty() {
        let space = data.iter().position(|b| *b == b' ').ok_or_else(bad)?;
        let digits = &data[..space];
        if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let length: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(bad)?;
        if length <= space + 1 || length > data.len() {
            return Err(bad());
        }
        let record = &data[space + 1..length];
        data = &data[length..];
        let record = record.strip_suffix(b"\n").ok_or_else(bad)?;
        let equals = record.iter().position(|b| *b == b'=').ok_or_else(bad)?;
        let (key, value) = (&record[..equals], &record[equals + 1..]);
        if key.is_empty() {
            return Err(bad());
        }
        match key {
            b"path" | b"linkpath" | b"uname" | b"gname" if value.contains(&0) => {
                return Err(bad());
            }
            b"path" => pax.path = Some(value.to_vec()),
            b"linkpath" => pax.linkpath = Some(value.to_vec()),
            b"size" => {
                let size: u64 = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .filter(|v: &u64| v >> 63 == 0)
                    .ok_or_else(|| TarError::Corrupt("a bad PAX size".into()))?;
                pax.size = Some(size);
            }
            b"GNU.sparse.major" => pax.sparse_major = Some(value.to_vec()),
            b"GNU.sparse.minor" => pax.sparse_minor = Some(value.to_vec()),
            b"GNU.sparse.name" => pax.sparse_name = Some(value.to_vec()),
            b"GNU.sparse.map" => pax.sparse_map = !value.is_empty(),
            _ => {}
        }
    }
    Ok(pax)
}

/// Whether PAX records make a GNU sparse file Go recognises (which then takes its name
/// from `GNU.sparse.name`).
fn pax_sparse(pax: &Pax) -> bool {
    let major = pax.sparse_major.as_deref().unwrap_or_default();
    let minor = pax.sparse_minor.as_deref().unwrap_or_default();
    match (major, minor) {
        (b"0", b"0" | b"1") | (b"1", b"0") => true,
        _ if !major.is_empty() || !minor.is_empty() => false,
        _ => pax.sparse_map,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ustar header block for `name` (`typeflag`, data `size`, `link`), checksummed.
    pub(crate) fn header(name: &[u8], typeflag: u8, size: u64, link: &[u8]) -> [u8; 512] {
        let mut block = [0u8; 512];
        let n = name.len().min(100);
        block[..n].copy_from_slice(&name[..n]);
        block[100..107].copy_from_slice(b"0000755");
        block[108..115].copy_from_slice(b"0000000");
        block[116..123].copy_from_slice(b"0000000");
        let size_text = format!("{size:011o}");
        block[124..135].copy_from_slice(size_text.as_bytes());
        block[136..147].copy_from_slice(b"00000000000");
        block[156] = typeflag;
        let l = link.len().min(100);
        block[157..157 + l].copy_from_slice(&link[..l]);
        block[257..263].copy_from_slice(b"ustar\0");
        block[263..265].copy_from_slice(b"00");
        checksum(&mut block);
        block
    }

    pub(crate) fn checksum(block: &mut [u8; 512]) {
        block[148..156].copy_from_slice(b"        ");
        let sum: u32 = block.iter().map(|b| u32::from(*b)).sum();
        let text = format!("{sum:06o}\0 ");
        block[148..156].copy_from_slice(text.as_bytes());
    }

    /// Appends an entry with its data and padding.
    pub(crate) fn entry(out: &mut Vec<u8>, name: &[u8], typeflag: u8, data: &[u8], link: &[u8]) {
        out.extend_from_slice(&header(name, typeflag, data.len() as u64, link));
        out.extend_from_slice(data);
        out.resize(out.len() + padding_of(data.len() as u64) as usize, 0);
    }

    /// A PAX record `LEN key=value\n`.
    pub(crate) fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
        let body_len = key.len() + value.len() + 3;
        let mut length = body_len + 1;
        while length.to_string().len() + body_len != length {
            length = length.to_string().len() + body_len;
        }
        let mut record = format!("{length} {key}=").into_bytes();
        record.extend_from_slice(value);
        record.push(b'\n');
        record
    }

    fn entries(bytes: &[u8]) -> Result<Vec<Header>, TarError> {
        let mut reader = TarReader::new(Streamed(bytes));
        let mut out = Vec::new();
        while let Some(header) = reader.next_entry()? {
            out.push(header);
        }
        Ok(out)
    }

    #[test]
    fn pax_size_and_path_win_over_the_header_as_in_go() {
        let mut tar = Vec::new();
        let mut records = pax_record("path", b"bin/sh");
        records.extend(pax_record("size", b"0"));
        entry(&mut tar, b"PaxHeaders/x", b'x', &records, b"");
        // The header says 1024 bytes of data; PAX says none, so the next header follows.
        tar.extend_from_slice(&header(b"decoy", b'0', 1024, b""));
        entry(&mut tar, b"etc/next", b'0', b"x", b"");
        let found = entries(&tar).unwrap();
        let names: Vec<&[u8]> = found.iter().map(|h| h.name.as_slice()).collect();
        assert_eq!(names, vec![&b"bin/sh"[..], b"etc/next"]);
    }

    #[test]
    fn links_and_directories_have_no_data_whatever_their_size_field() {
        let mut tar = Vec::new();
        // A symlink header claiming 512 bytes: Go reads none, so the next block is a header.
        tar.extend_from_slice(&header(b"bin/sh", b'2', 512, b"busybox"));
        entry(&mut tar, b"bin/bash", b'0', b"elf", b"");
        let found = entries(&tar).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].kind, Kind::Symlink);
        assert_eq!(found[0].link, b"busybox");
        assert_eq!(found[1].name, b"bin/bash");
    }

    #[test]
    fn gnu_long_names_override_pax_and_a_global_header_drops_them() {
        let mut tar = Vec::new();
        entry(&mut tar, b"././@LongLink", b'L', b"usr/bin/bash\0", b"");
        entry(
            &mut tar,
            b"x",
            b'x',
            &pax_record("path", b"usr/bin/other"),
            b"",
        );
        entry(&mut tar, b"short", b'0', b"", b"");
        entry(&mut tar, b"././@LongLink", b'L', b"usr/bin/dash", b"");
        entry(&mut tar, b"g", b'g', &pax_record("comment", b"x"), b"");
        entry(&mut tar, b"plain", b'0', b"", b"");
        let names: Vec<Vec<u8>> = entries(&tar).unwrap().into_iter().map(|h| h.name).collect();
        assert_eq!(names, vec![b"usr/bin/bash".to_vec(), b"plain".to_vec()]);
    }

    #[test]
    fn extension_headers_over_the_cap_are_errors_without_reading_them() {
        let mut tar = Vec::new();
        tar.extend_from_slice(&header(b"././@LongLink", b'L', 3 << 30, b""));
        let error = entries(&tar).unwrap_err();
        assert!(matches!(error, TarError::TooLarge(_)), "{error}");
        assert!(error.to_string().contains("1024 KiB"), "{error}");
        let mut long = Vec::new();
        entry(
            &mut long,
            b"x",
            b'x',
            &pax_record("path", &[b'a'; 70_000]),
            b"",
        );
        entry(&mut long, b"short", b'0', b"", b"");
        assert!(matches!(entries(&long), Err(TarError::TooLarge(_))));
    }

    #[test]
    fn ends_and_corruption() {
        // No end blocks, and no padding after the last entry's data: accepted.
        let mut tar = Vec::new();
        tar.extend_from_slice(&header(b"a", b'0', 3, b""));
        tar.extend_from_slice(b"abc");
        assert_eq!(entries(&tar).unwrap().len(), 1);
        // Data cut short is an error; so is a broken checksum.
        let mut cut = Vec::new();
        cut.extend_from_slice(&header(b"a", b'0', 3000, b""));
        cut.extend_from_slice(b"abc");
        assert!(entries(&cut).is_err());
        let mut bad = header(b"a", b'0', 0, b"");
        bad[0] = b'b';
        assert!(entries(&bad).is_err());
        // A V7 header with a trailing slash and type NUL is a directory.
        let dir = header(b"usr/", b'\0', 0, b"");
        assert_eq!(entries(&dir).unwrap()[0].kind, Kind::Directory);
    }

    #[test]
    fn base_256_sizes() {
        let mut field = [0u8; 12];
        field[0] = 0x80;
        field[11] = 5;
        assert_eq!(parse_size(&field).unwrap(), 5);
        field[0] = 0xff;
        assert!(parse_size(&field).is_err());
        assert_eq!(parse_size(b"00000000012\0").unwrap(), 10);
        assert!(parse_size(b"0000000009x\0").is_err());
    }
}
