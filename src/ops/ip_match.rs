//! `@ipMatch`: is the input (a textual IP address) inside any of the listed addresses/CIDRs?
//!
//! The list is comma-separated IPv4/IPv6 addresses with optional `/prefix` (libmodsecurity3
//! rejects `/0` and prefixes past 32/128; so do we). An entry with a `:` is IPv6. Input that
//! is not an IP address never matches (ModSecurity's `inet_pton` failure). We trim spaces
//! around list entries, which ModSecurity would reject at load time.
//! Example: `SecRule REMOTE_ADDR "@ipMatch 127.0.0.1,::1" "id:905100,…"`.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A parsed `@ipMatch` list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpMatcher {
    /// (network, mask) pairs, network already masked.
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

fn prefix_mask<const BITS: u32>(prefix: u32) -> u128 {
    if prefix == 0 {
        0
    } else {
        (u128::MAX << (128 - prefix)) >> (128 - BITS)
    }
}

impl IpMatcher {
    /// Parses `"127.0.0.1,::1,10.0.0.0/8"`.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut m = IpMatcher::default();
        for raw in list.split(',') {
            let entry = raw.trim();
            if entry.is_empty() {
                continue;
            }
            let (addr, prefix) = match entry.split_once('/') {
                Some((a, p)) => {
                    let p: u32 = p
                        .trim()
                        .parse()
                        .map_err(|_| format!("bad prefix in {entry:?}"))?;
                    (a.trim(), Some(p))
                }
                None => (entry, None),
            };
            if addr.contains(':') {
                let ip: Ipv6Addr = addr
                    .parse()
                    .map_err(|_| format!("bad IPv6 address {addr:?}"))?;
                let p = prefix.unwrap_or(128);
                if p == 0 || p > 128 {
                    return Err(format!("bad IPv6 prefix in {entry:?}"));
                }
                let mask = prefix_mask::<128>(p);
                m.v6.push((u128::from(ip) & mask, mask));
            } else {
                let ip: Ipv4Addr = addr
                    .parse()
                    .map_err(|_| format!("bad IPv4 address {addr:?}"))?;
                let p = prefix.unwrap_or(32);
                if p == 0 || p > 32 {
                    return Err(format!("bad IPv4 prefix in {entry:?}"));
                }
                let mask = prefix_mask::<32>(p) as u32;
                m.v4.push((u32::from(ip) & mask, mask));
            }
        }
        if m.v4.is_empty() && m.v6.is_empty() {
            return Err(format!("empty @ipMatch list {list:?}"));
        }
        Ok(m)
    }

    /// Does the textual address `ip` fall in the list?
    pub fn matches(&self, ip: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(ip) else {
            return false;
        };
        if text.contains(':') {
            let Ok(a) = text.parse::<Ipv6Addr>() else {
                return false;
            };
            let a = u128::from(a);
            self.v6.iter().any(|&(net, mask)| a & mask == net)
        } else {
            let Ok(a) = text.parse::<Ipv4Addr>() else {
                return false;
            };
            let a = u32::from(a);
            self.v4.iter().any(|&(net, mask)| a & mask == net)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IpMatcher;

    #[test]
    fn crs_localhost_list() {
        let m = IpMatcher::parse("127.0.0.1,::1").unwrap();
        assert!(m.matches(b"127.0.0.1"));
        assert!(m.matches(b"::1"));
        assert!(m.matches(b"0:0:0:0:0:0:0:1"));
        assert!(!m.matches(b"127.0.0.2"));
        assert!(!m.matches(b"::2"));
        assert!(!m.matches(b"localhost"));
        assert!(!m.matches(b""));
        assert!(!m.matches(b"127.0.0.1 "));
        assert!(!m.matches(b"\xff"));
    }

    #[test]
    fn cidrs() {
        let m = IpMatcher::parse("10.0.0.1/8, 192.168.1.0/24,2001:db8::/32").unwrap();
        assert!(m.matches(b"10.255.3.4"));
        assert!(!m.matches(b"11.0.0.0"));
        assert!(m.matches(b"192.168.1.77"));
        assert!(!m.matches(b"192.168.2.1"));
        assert!(m.matches(b"2001:db8:ffff::1"));
        assert!(!m.matches(b"2001:db9::1"));
        // An IPv4 address is not looked up in the IPv6 list, even when mapped.
        assert!(!m.matches(b"::ffff:10.0.0.1"));
    }

    #[test]
    fn rejects_bad_lists() {
        assert!(IpMatcher::parse("1.2.3.4/0").is_err());
        assert!(IpMatcher::parse("1.2.3.4/33").is_err());
        assert!(IpMatcher::parse("::1/129").is_err());
        assert!(IpMatcher::parse("1.2.3").is_err());
        assert!(IpMatcher::parse("").is_err());
    }
}
