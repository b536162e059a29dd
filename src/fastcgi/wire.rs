//! The FastCGI 1.0 wire format, written once: the 8-byte record header and
//! the name-value pairs of PARAMS, encoded and parsed. The daemon's input
//! guard and output batching follow records with it; the integration tests
//! and the fuzz targets build and read their conversations with it.
//! tokio-fastcgi stays the protocol engine; this is only the format.

/// The protocol version every record carries.
pub const VERSION: u8 = 1;
/// Bytes of a record header.
pub(crate) const HEADER_LEN: usize = 8;
/// The most content one record holds.
const MAX_CONTENT: usize = u16::MAX as usize;

/// Record types (FastCGI 1.0, 8).
pub(crate) const BEGIN_REQUEST: u8 = 1;
pub const END_REQUEST: u8 = 3;
pub const PARAMS: u8 = 4;
pub const STDIN: u8 = 5;
pub const STDOUT: u8 = 6;
pub const STDERR: u8 = 7;
pub const GET_VALUES_RESULT: u8 = 10;
pub const UNKNOWN_TYPE: u8 = 11;

/// The role the daemon plays, and the BEGIN_REQUEST flag that keeps the
/// connection open after the request.
const RESPONDER: u16 = 1;
const KEEP_CONN: u8 = 1;

/// A record header, kept as its bytes: reading a field is parsing it, and a
/// header passed on unchanged stays byte for byte what the peer sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header(pub [u8; HEADER_LEN]);

impl Header {
    pub(crate) fn new(kind: u8, id: u16, content_len: u16, padding: u8) -> Header {
        let [id_hi, id_lo] = id.to_be_bytes();
        let [len_hi, len_lo] = content_len.to_be_bytes();
        Header([VERSION, kind, id_hi, id_lo, len_hi, len_lo, padding, 0])
    }

    /// The header at the start of `bytes`, if they hold a whole one.
    pub(crate) fn parse(bytes: &[u8]) -> Option<Header> {
        Some(Header(*bytes.first_chunk()?))
    }

    pub fn version(self) -> u8 {
        self.0[0]
    }

    pub fn kind(self) -> u8 {
        self.0[1]
    }

    pub fn id(self) -> u16 {
        u16::from_be_bytes([self.0[2], self.0[3]])
    }

    pub fn content_len(self) -> usize {
        usize::from(u16::from_be_bytes([self.0[4], self.0[5]]))
    }

    pub(crate) fn padding(self) -> usize {
        usize::from(self.0[6])
    }

    /// Content and padding: the bytes that follow the header.
    pub fn body_len(self) -> usize {
        self.content_len() + self.padding()
    }

    /// The same header (version, type, id, reserved byte) for other lengths.
    pub(crate) fn with_lengths(self, content_len: u16, padding: u8) -> Header {
        let mut h = self;
        h.0[4..6].copy_from_slice(&content_len.to_be_bytes());
        h.0[6] = padding;
        h
    }
}

/// One whole record of a byte buffer.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub header: Header,
    pub content: &'a [u8],
}

/// The first record of `bytes` and what follows it; `None` if `bytes` do
/// not start with a whole record.
pub fn split_record(bytes: &[u8]) -> Option<(Record<'_>, &[u8])> {
    let header = Header::parse(bytes)?;
    let body = bytes.get(HEADER_LEN..HEADER_LEN + header.body_len())?;
    let record = Record {
        header,
        content: &body[..header.content_len()],
    };
    Some((record, &bytes[HEADER_LEN + header.body_len()..]))
}

/// Appends one record: header, `content`, `padding` zero bytes.
///
/// # Panics
///
/// If `content` is longer than 65535 bytes (use [`put_stream`]).
pub(crate) fn put_record(out: &mut Vec<u8>, kind: u8, id: u16, content: &[u8], padding: u8) {
    let len = u16::try_from(content.len()).expect("record content of at most 65535 bytes");
    out.extend_from_slice(&Header::new(kind, id, len, padding).0);
    out.extend_from_slice(content);
    out.extend(std::iter::repeat_n(0, usize::from(padding)));
}

/// Appends a stream (PARAMS, STDIN, STDOUT) as nginx sends one: `content`
/// in records of at most 65535 bytes, each padded to a multiple
/// of 8, then the empty record that ends the stream.
pub fn put_stream(out: &mut Vec<u8>, kind: u8, id: u16, content: &[u8]) {
    for chunk in content.chunks(MAX_CONTENT) {
        let padding = (8 - chunk.len() % 8) % 8;
        put_record(out, kind, id, chunk, padding as u8);
    }
    put_record(out, kind, id, &[], 0);
}

/// Appends a BEGIN_REQUEST record for the responder role.
pub fn put_begin_request(out: &mut Vec<u8>, id: u16, keep_conn: bool) {
    let [role_hi, role_lo] = RESPONDER.to_be_bytes();
    let flags = if keep_conn { KEEP_CONN } else { 0 };
    put_record(out, BEGIN_REQUEST, id, &[role_hi, role_lo, flags, 0, 0, 0, 0, 0], 0);
}

/// Appends a name-value pair: each length in one byte below 128, else in
/// four with the top bit set, then the name and the value.
///
/// # Panics
///
/// If a length does not fit in 31 bits.
pub fn put_pair(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    for n in [name.len(), value.len()] {
        match u8::try_from(n) {
            Ok(short) if short < 0x80 => out.push(short),
            _ => {
                let long = u32::try_from(n)
                    .ok()
                    .filter(|n| n >> 31 == 0)
                    .expect("a length below 2^31");
                out.extend_from_slice(&(long | 0x8000_0000).to_be_bytes());
            }
        }
    }
    out.extend_from_slice(name);
    out.extend_from_slice(value);
}

/// One name-value pair of a PARAMS stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
    /// The whole pair as it was encoded, lengths included.
    pub encoded: &'a [u8],
}

/// Content that does not end with a whole name-value pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncated;

impl std::fmt::Display for Truncated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FastCGI name-value pair cut short")
    }
}

impl std::error::Error for Truncated {}

/// The name-value pairs of `content`, in order; a pair cut short is an
/// error, and the last item.
pub fn pairs(content: &[u8]) -> Pairs<'_> {
    Pairs { rest: content }
}

/// See [`pairs`].
#[derive(Clone, Debug)]
pub struct Pairs<'a> {
    rest: &'a [u8],
}

impl<'a> Pairs<'a> {
    fn pair(&mut self) -> Option<Pair<'a>> {
        let all = self.rest;
        let mut at = 0;
        let name_len = length(all, &mut at)?;
        let value_len = length(all, &mut at)?;
        let name_end = at.checked_add(name_len)?;
        let end = name_end.checked_add(value_len)?;
        let encoded = all.get(..end)?;
        self.rest = &all[end..];
        Some(Pair {
            name: &encoded[at..name_end],
            value: &encoded[name_end..],
            encoded,
        })
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = Result<Pair<'a>, Truncated>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let pair = self.pair().ok_or(Truncated);
        if pair.is_err() {
            self.rest = &[];
        }
        Some(pair)
    }
}

/// A pair's length at `at`, which moves past it.
fn length(bytes: &[u8], at: &mut usize) -> Option<usize> {
    let first = *bytes.get(*at)?;
    if first & 0x80 == 0 {
        *at += 1;
        return Some(usize::from(first));
    }
    let b: &[u8; 4] = bytes.get(*at..)?.first_chunk()?;
    *at += 4;
    usize::try_from(u32::from_be_bytes(*b) & 0x7fff_ffff).ok()
}

/// Where a stream of records is when it arrives in pieces of any size:
/// inside a header, or inside a record's content and padding. The input
/// guard and the output batching follow the records with it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Framing {
    header: Header,
    /// Bytes of `header` seen.
    have: usize,
    /// Content and padding bytes of the current record still to come.
    left: usize,
}

impl Framing {
    /// How many bytes belong to the current header or record body: a
    /// [`step`](Self::step) takes no more.
    pub(crate) fn until_next(&self) -> usize {
        match (self.have, self.left) {
            (HEADER_LEN, 0) => HEADER_LEN,
            (HEADER_LEN, left) => left,
            (have, _) => HEADER_LEN - have,
        }
    }

    /// Follows `bytes` (at most [`until_next`](Self::until_next) of them);
    /// the header they complete, if they do.
    pub(crate) fn step(&mut self, bytes: &[u8]) -> Option<Header> {
        if bytes.is_empty() {
            return None;
        }
        if self.record_done() {
            self.have = 0;
        }
        if self.have == HEADER_LEN {
            self.left -= bytes.len();
            return None;
        }
        self.header.0[self.have..self.have + bytes.len()].copy_from_slice(bytes);
        self.have += bytes.len();
        if self.have < HEADER_LEN {
            return None;
        }
        self.left = self.header.body_len();
        Some(self.header)
    }

    /// The current record's header, once whole.
    pub(crate) fn header(&self) -> Option<Header> {
        (self.have == HEADER_LEN).then_some(self.header)
    }

    /// Whether the bytes so far end with a whole record.
    pub(crate) fn record_done(&self) -> bool {
        self.have == HEADER_LEN && self.left == 0
    }

    /// Whether the bytes so far end inside a record's content or padding.
    pub(crate) fn in_body(&self) -> bool {
        self.have == HEADER_LEN && self.left > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_pairs_read_back_as_written() {
        let long = vec![b'v'; 300];
        let mut content = Vec::new();
        put_pair(&mut content, b"REQUEST_METHOD", b"GET");
        put_pair(&mut content, b"HTTP_X_LONG", &long);
        let mut bytes = Vec::new();
        put_begin_request(&mut bytes, 7, true);
        put_stream(&mut bytes, PARAMS, 7, &content);
        let mut kinds = Vec::new();
        let mut rest = &bytes[..];
        while let Some((record, next)) = split_record(rest) {
            assert_eq!((record.header.version(), record.header.id()), (VERSION, 7));
            assert_eq!(record.header.body_len() % 8, 0, "padded as nginx pads");
            kinds.push((record.header.kind(), record.content.len()));
            rest = next;
        }
        assert!(rest.is_empty());
        assert_eq!(kinds, [(BEGIN_REQUEST, 8), (PARAMS, content.len()), (PARAMS, 0)]);
        let got: Vec<_> = pairs(&content).collect::<Result<_, _>>().expect("whole pairs");
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].name, got[0].value), (&b"REQUEST_METHOD"[..], &b"GET"[..]));
        assert_eq!((got[1].name, got[1].value), (&b"HTTP_X_LONG"[..], &long[..]));
        assert_eq!([got[0].encoded, got[1].encoded].concat(), content);
        assert_eq!(
            got[1].encoded[..5],
            [0x0b, 0x80, 0, 1, 0x2c],
            "a long length in four bytes"
        );
    }

    #[test]
    fn pairs_cut_short_end_with_an_error() {
        let mut content = Vec::new();
        put_pair(&mut content, b"A", b"b");
        put_pair(&mut content, b"C", b"d");
        let cut: Vec<_> = pairs(&content[..content.len() - 1]).collect();
        assert_eq!(cut.len(), 2);
        assert!(cut[0].is_ok() && cut[1] == Err(Truncated));
        for bad in [&[0x80, 0, 0][..], &[1], &[0xff, 0xff, 0xff, 0xff, 0, b'x']] {
            assert_eq!(pairs(bad).collect::<Vec<_>>(), [Err(Truncated)], "{bad:?}");
        }
        assert_eq!(split_record(&[1, 6, 0, 1, 0, 2, 0, 0, b'x']).map(|r| r.1), None);
    }

    #[test]
    fn framing_finds_every_record_end_in_any_pieces() {
        let mut bytes = Vec::new();
        put_record(&mut bytes, STDOUT, 1, b"abc", 5);
        put_record(&mut bytes, END_REQUEST, 1, &[0; 8], 0);
        put_record(&mut bytes, STDOUT, 1, b"", 0);
        for piece in [1, 3, 8, bytes.len()] {
            let mut framing = Framing::default();
            let (mut at, mut ends, mut headers) = (0, Vec::new(), 0);
            while at < bytes.len() {
                let n = framing.until_next().min(piece).min(bytes.len() - at);
                headers += usize::from(framing.step(&bytes[at..at + n]).is_some());
                at += n;
                if framing.record_done() {
                    ends.push(at);
                }
            }
            assert_eq!(headers, 3, "piece {piece}");
            assert_eq!(ends, [16, 32, 40], "piece {piece}");
        }
    }
}
