//! Which addresses the image proxy may connect to: public unicast only,
//! never the daemon's own machine or network (loopback, private, ULA,
//! link-local, CGNAT, multicast, cloud metadata). The check runs in the
//! client's own resolver, on the addresses it then connects to, so a name
//! that resolves differently a second time (DNS rebinding) gains nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// True for an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => is_public_v4(a),
        IpAddr::V6(a) => is_public_v6(a),
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [b0, b1, b2, _] = a.octets();
    !(b0 == 0                                   // "this network", 0.0.0.0
        || b0 == 10                             // private
        || b0 == 127                            // loopback
        || (b0 == 100 && (64..128).contains(&b1)) // CGNAT 100.64/10
        || (b0 == 169 && b1 == 254)             // link-local, cloud metadata
        || (b0 == 172 && (16..32).contains(&b1)) // private
        || (b0 == 192 && b1 == 0 && b2 == 0)    // IETF protocol assignments
        || (b0 == 192 && b1 == 0 && b2 == 2)    // documentation
        || (b0 == 192 && b1 == 168)             // private
        || (b0 == 198 && (18..20).contains(&b1)) // benchmarking
        || (b0 == 198 && b1 == 51 && b2 == 100) // documentation
        || (b0 == 203 && b1 == 0 && b2 == 113)  // documentation
        || b0 >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    let s = a.segments();
    // Addresses that carry an IPv4 address are as public as that one:
    // mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96), 6to4 (2002::/16).
    if let Some(v4) = a.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    !(s[0..6] == [0, 0, 0, 0, 0, 0]             // ::, ::1, IPv4-compatible
        || s[0] & 0xff00 == 0xff00              // multicast
        || s[0] & 0xffc0 == 0xfe80              // link-local
        || s[0] & 0xffc0 == 0xfec0              // site-local (deprecated)
        || s[0] & 0xfe00 == 0xfc00              // ULA, fd00:ec2::254 (cloud metadata)
        || (s[0] == 0x2001 && s[1] == 0x0db8)   // documentation
        || (s[0] == 0x2001 && s[1] == 0)        // Teredo
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])) // discard-only
}

/// The public ones of a name's addresses; an error naming the name when
/// there are none.
pub fn public_only(name: &str, addrs: impl Iterator<Item = SocketAddr>) -> Result<Vec<SocketAddr>, String> {
    let (public, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = addrs.partition(|a| is_public(a.ip()));
    if public.is_empty() {
        return Err(if refused.is_empty() {
            format!("{name} has no address")
        } else {
            format!("{name} resolves to {} only, which is not public", refused[0].ip())
        });
    }
    Ok(public)
}

/// The image client's resolver: the system's, then [`public_only`].
#[derive(Debug, Default)]
pub struct PublicResolver;

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let public = public_only(&host, addrs)?;
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_are_public() {
        let refused = [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.0.0.2",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.1.2.3",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.170",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.1",
            "203.0.113.9",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "fe80::1",
            "fec0::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "2002:7f00:1::",
            "100::1",
        ];
        for a in refused {
            let ip: IpAddr = a.parse().expect(a);
            assert!(!is_public(ip), "{a} refused");
        }
        let allowed = [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.0.1",
            "172.32.0.1",
            "169.253.1.1",
            "192.0.1.1",
            "192.169.0.1",
            "198.17.0.1",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700::1111",
            "2a01:4f8::1",
            "::ffff:1.1.1.1",
            "64:ff9b::808:808",
            "2002:808:808::",
        ];
        for a in allowed {
            let ip: IpAddr = a.parse().expect(a);
            assert!(is_public(ip), "{a} allowed");
        }
    }

    #[test]
    fn a_name_keeps_its_public_addresses_only() {
        let addrs = |list: &[&str]| -> Vec<SocketAddr> {
            list.iter()
                .map(|a| SocketAddr::new(a.parse().expect("ip"), 443))
                .collect()
        };
        let got = public_only(
            "mixed.example",
            addrs(&["127.0.0.1", "93.184.215.14", "10.0.0.1"]).into_iter(),
        );
        assert_eq!(got, Ok(addrs(&["93.184.215.14"])));
        let e = public_only("rebind.example", addrs(&["169.254.169.254", "::1"]).into_iter()).expect_err("refused");
        assert!(e.contains("rebind.example") && e.contains("169.254.169.254"), "{e}");
        assert!(public_only("none.example", std::iter::empty()).is_err());
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_of_this_machine() {
        let name: Name = "localhost".parse().expect("name");
        // Refused (or, where the system cannot resolve it, not found):
        // never an address to connect to.
        if let Ok(a) = PublicResolver.resolve(name).await {
            panic!("localhost resolved to {:?}", a.collect::<Vec<_>>());
        }
    }
}
