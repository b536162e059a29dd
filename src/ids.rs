//! What names a status or an account: which strings are ids at all and
//! their order, and account names compared one way. One check for the
//! whole daemon, so an id one part keeps is never refused by another, and
//! an account blocked in one place is blocked everywhere.
//!
//! Mastodon's ids are decimal snowflakes; GoToSocial's are ULIDs, Akkoma's
//! and Pleroma's flake ids in base 62, other servers' alphanumerics with
//! `-` or `_`. Ids go into API paths, JSON keys and HTML attributes, so
//! anything else is not an id.

use std::cmp::Ordering;

/// Longest id accepted; the longest real ones are 26 (ULID) to 32 bytes.
pub(crate) const MAX_LEN: usize = 64;

/// Whether `s` is an id: 1 to [`MAX_LEN`] ASCII letters, digits, `-`, `_`.
pub fn valid(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Oldest first: snowflakes compare as numbers of any length (shorter is
/// older), and ULIDs and flake ids of one length compare as strings, which
/// is their time order too.
pub fn order(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A status id, checked once where it enters the daemon (the config, the
/// state file, an instance's answer, a `Link` header), so the config, the
/// state, discovery and the API calls all hold ids of one kind and can
/// never disagree about one. Ordered oldest first ([`order`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StatusId(Box<str>);

impl StatusId {
    /// The id `s` names, or `None` when it is not one ([`valid`]).
    pub fn parse(s: &str) -> Option<StatusId> {
        valid(s).then(|| StatusId(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Ord for StatusId {
    fn cmp(&self, other: &Self) -> Ordering {
        order(&self.0, &other.0)
    }
}

impl PartialOrd for StatusId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for StatusId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for StatusId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl PartialEq<str> for StatusId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl serde::Serialize for StatusId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Refuses a string that is not an id, naming it; where one bad id must
/// not cost its neighbours (the state file's lists), read strings and
/// [`StatusId::parse`] them instead.
impl<'de> serde::Deserialize<'de> for StatusId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        StatusId::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a status id")))
    }
}

/// An account name the way the daemon compares them: spaces and a leading
/// `@` dropped, lower case (`@Cat@Far.Example ` → `cat@far.example`). The
/// config's blocked accounts, the author's blocks and mutes and each
/// reply's author all go through it, so they match.
pub(crate) fn normalise_acct(acct: &str) -> String {
    acct.trim().trim_start_matches('@').to_lowercase()
}

/// `user@domain` of an account name, normalised; a local account (`user`)
/// is on `instance_host`. `None` for an empty name.
pub(crate) fn full_acct(acct: &str, instance_host: &str) -> Option<String> {
    let acct = normalise_acct(acct);
    if acct.is_empty() {
        None
    } else if acct.contains('@') {
        Some(acct)
    } else {
        Some(format!("{acct}@{}", instance_host.to_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_every_server_are_ids() {
        for id in [
            "116843781319371281",
            "1",
            "01F8MH75CBF9JFX4ZAD54N0W0R",
            "AEaHkBvDr3M2kqjHvE",
            "9t3kq2b1-x_y",
        ] {
            assert!(valid(id), "{id}");
        }
        for id in [
            "",
            "1 2",
            "1\"",
            "<b>",
            r#"1"><img src=x>"#,
            "1/2",
            "1.2",
            "é",
            &"1".repeat(MAX_LEN + 1),
        ] {
            assert!(!valid(id), "{id}");
        }
    }

    /// The newtype keeps exactly the ids [`valid`] accepts, in time
    /// order, and reads and writes them as plain JSON strings.
    #[test]
    fn status_ids_are_checked_ordered_and_plain_strings() {
        assert!(StatusId::parse("1/2").is_none());
        assert!(StatusId::parse("").is_none());
        let mut ids: Vec<StatusId> = ["100", "99", "116843781319371281", "7"]
            .into_iter()
            .filter_map(StatusId::parse)
            .collect();
        ids.sort();
        let sorted: Vec<&str> = ids.iter().map(StatusId::as_str).collect();
        assert_eq!(sorted, ["7", "99", "100", "116843781319371281"]);
        let json = serde_json::to_string(&ids).expect("serialise");
        assert_eq!(json, r#"["7","99","100","116843781319371281"]"#);
        let back: Vec<StatusId> = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, ids);
        let bad = serde_json::from_str::<StatusId>(r#""../x""#).expect_err("not an id");
        assert!(bad.to_string().contains("not a status id"), "{bad}");
        assert_eq!(format!("{} {:?}", ids[0], ids[0]), r#"7 "7""#);
    }

    #[test]
    fn order_is_time_order() {
        assert_eq!(order("99", "100"), Ordering::Less);
        assert_eq!(order("116843781319371281", "116843781319371280"), Ordering::Greater);
        assert_eq!(
            order("01F8MH75CBF9JFX4ZAD54N0W0R", "01F8MH7C3JZ6F9QRT3VXWG5QY1"),
            Ordering::Less
        );
        assert_eq!(order("7", "7"), Ordering::Equal);
    }

    /// The config's entries, the author's blocks and a reply's author name
    /// one account the same way, whatever case, `@` or spaces they carry.
    #[test]
    fn one_account_has_one_name() {
        for written in ["cat@far.example", "@Cat@Far.Example", " cat@FAR.example\n"] {
            assert_eq!(normalise_acct(written), "cat@far.example");
            assert_eq!(full_acct(written, "m.example").as_deref(), Some("cat@far.example"));
        }
        assert_eq!(full_acct("Cat", "M.Example").as_deref(), Some("cat@m.example"));
        assert_eq!(full_acct("@cat", "m.example").as_deref(), Some("cat@m.example"));
        assert_eq!(full_acct(" @ ", "m.example"), None);
    }
}
