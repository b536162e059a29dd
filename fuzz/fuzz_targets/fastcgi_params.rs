//! Arbitrary FastCGI name-value pairs (the PARAMS stream nginx sends, in
//! the protocol's length encoding) → `fastcgi::from_params` →
//! `query::from_request`: never panics, and an accepted query is a clean,
//! bounded article path.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use mastodon_comments::{fastcgi, query};

/// A FastCGI length: one byte below 128, else four bytes with the top bit set.
fn length(data: &mut &[u8]) -> Option<usize> {
    let (&first, rest) = data.split_first()?;
    if first < 0x80 {
        *data = rest;
        return Some(usize::from(first));
    }
    let b = data.get(..4)?;
    let n = u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]);
    *data = &data[4..];
    Some(n as usize)
}

fn pairs(mut data: &[u8]) -> HashMap<Vec<u8>, Vec<u8>> {
    let mut out = HashMap::new();
    for _ in 0..256 {
        let (Some(n), Some(v)) = (length(&mut data), length(&mut data)) else {
            break;
        };
        let n = n.min(data.len());
        let name = data[..n].to_vec();
        data = &data[n..];
        let v = v.min(data.len());
        out.insert(name, data[..v].to_vec());
        data = &data[v..];
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let params = pairs(data);
    let req = fastcgi::from_params(|name| params.get(name.as_bytes()).and_then(|v| std::str::from_utf8(v).ok()));
    if let Ok(path) = query::from_request(&req.uri, &req.query) {
        fuzz_checks::check_article_path(&path);
    }
});
