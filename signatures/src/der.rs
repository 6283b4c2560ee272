//! A small, strict DER reader: just what X.509, CMS and RFC 3161 parsing here needs.
//!
//! Every function works on borrowed slices and returns `None` on anything malformed
//! (indefinite lengths, non-minimal lengths, truncation); nothing recurses on input depth
//! except through the fixed structure of the callers.

/// Universal and context tags used by the parsers.
pub mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const BMP_STRING: u8 = 0x1e;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
}

/// One parsed element: its tag, its content and the whole encoding (header included).
#[derive(Clone, Copy, Debug)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    pub raw: &'a [u8],
}

/// Reads consecutive elements from a slice.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The tag of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// Reads the next element (single-byte tags only; high tag numbers are rejected).
    pub fn read(&mut self) -> Option<Tlv<'a>> {
        let data = self.data;
        let tag = *data.first()?;
        if tag & 0x1f == 0x1f {
            return None;
        }
        let first = *data.get(1)?;
        let (len, header) = if first < 0x80 {
            (first as usize, 2usize)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 {
                return None;
            }
            let bytes = data.get(2..2 + n)?;
            if bytes[0] == 0 {
                return None;
            }
            let mut len = 0usize;
            for b in bytes {
                len = (len << 8) | *b as usize;
            }
            if len < 0x80 {
                return None;
            }
            (len, 2 + n)
        };
        let end = header.checked_add(len)?;
        let raw = data.get(..end)?;
        self.data = &data[end..];
        Some(Tlv {
            tag,
            content: &raw[header..],
            raw,
        })
    }

    /// Reads the next element and requires its tag.
    pub fn expect(&mut self, tag: u8) -> Option<Tlv<'a>> {
        let tlv = self.read()?;
        (tlv.tag == tag).then_some(tlv)
    }

    /// Reads the next element only if it has this tag.
    pub fn optional(&mut self, tag: u8) -> Option<Tlv<'a>> {
        if self.peek_tag() == Some(tag) {
            self.read()
        } else {
            None
        }
    }

    /// Reads a whole slice that must hold exactly one element with this tag.
    pub fn single(data: &'a [u8], tag: u8) -> Option<Tlv<'a>> {
        let mut r = Reader::new(data);
        let tlv = r.expect(tag)?;
        r.is_empty().then_some(tlv)
    }
}

/// Reads the elements of a constructed value.
pub fn children<'a>(tlv: &Tlv<'a>) -> Reader<'a> {
    Reader::new(tlv.content)
}

/// A non-negative INTEGER as a u64 (for versions, indices, small numbers).
pub fn small_uint(tlv: &Tlv<'_>) -> Option<u64> {
    if tlv.tag != tag::INTEGER || tlv.content.is_empty() || tlv.content[0] & 0x80 != 0 {
        return None;
    }
    let bytes = if tlv.content[0] == 0 && tlv.content.len() > 1 {
        &tlv.content[1..]
    } else {
        tlv.content
    };
    if bytes.len() > 8 {
        return None;
    }
    Some(bytes.iter().fold(0u64, |acc, b| (acc << 8) | *b as u64))
}

/// A BIT STRING's bytes (only whole-byte strings, as keys and signatures are).
pub fn bit_string_bytes<'a>(tlv: &Tlv<'a>) -> Option<&'a [u8]> {
    if tlv.tag != tag::BIT_STRING {
        return None;
    }
    match tlv.content.split_first() {
        Some((0, rest)) => Some(rest),
        _ => None,
    }
}

/// Dotted-decimal form of an OBJECT IDENTIFIER's content.
pub fn oid_string(content: &[u8]) -> Option<String> {
    if content.is_empty() || content.len() > 64 {
        return None;
    }
    let mut parts: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    let mut started = false;
    for b in content {
        if !started && *b == 0x80 {
            return None;
        }
        started = true;
        acc = acc.checked_mul(128)? | (*b & 0x7f) as u64;
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let (first, second) = match acc {
                    0..=39 => (0, acc),
                    40..=79 => (1, acc - 40),
                    _ => (2, acc - 80),
                };
                parts.push(first);
                parts.push(second);
            } else {
                parts.push(acc);
            }
            acc = 0;
            started = false;
        }
    }
    if started {
        return None;
    }
    Some(
        parts
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// Encodes a header + content (definite length).
pub fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// Seconds since the Unix epoch of a UTCTime or GeneralizedTime (only the `Z` forms that
/// RFC 5280 allows, plus optional fractional seconds in GeneralizedTime for RFC 3161).
pub fn time(tlv: &Tlv<'_>) -> Option<i64> {
    let s = core::str::from_utf8(tlv.content).ok()?;
    let s = s.strip_suffix('Z')?;
    let (year, rest) = match tlv.tag {
        tag::UTC_TIME => {
            let yy: i64 = digits(s.get(0..2)?)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        tag::GENERALIZED_TIME => (digits(s.get(0..4)?)?, s.get(4..)?),
        _ => return None,
    };
    let (main, frac) = match rest.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (rest, None),
    };
    if let Some(f) = frac
        && (f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    if main.len() != 10 {
        return None;
    }
    let month = digits(&main[0..2])?;
    let day = digits(&main[2..4])?;
    let hour = digits(&main[4..6])?;
    let min = digits(&main[6..8])?;
    let sec = digits(&main[8..10])?;
    crate::time::unix_from_parts(year, month, day, hour, min, sec)
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_minimal_and_truncated_lengths() {
        assert!(
            Reader::new(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5])
                .read()
                .is_none()
        );
        assert!(Reader::new(&[0x04, 0x05, 1, 2]).read().is_none());
        assert!(Reader::new(&[0x04, 0x80]).read().is_none());
        let t = Reader::new(&[0x04, 0x02, 1, 2]).read().unwrap();
        assert_eq!(t.content, &[1, 2]);
    }

    #[test]
    fn oids_and_times() {
        assert_eq!(
            oid_string(&[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03]).unwrap(),
            "1.3.6.1.5.5.7.3.3"
        );
        let t = Tlv {
            tag: tag::UTC_TIME,
            content: b"240319172626Z",
            raw: &[],
        };
        assert_eq!(time(&t), Some(1710869186));
    }
}
