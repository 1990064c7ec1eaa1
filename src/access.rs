//! Who may talk to the agent: `--allow-from CIDR,...`, checked by `server` when a connection is
//! accepted (a refused connection is closed before any byte is read, and counted).
//!
//! Owns parsing the list and matching a peer address; does no I/O. An IPv4 peer seen through
//! an IPv6 listener (`::ffff:a.b.c.d`) is matched as the IPv4 address it is. Refuses host bits
//! set past the prefix (`10.0.0.1/8`): a typo there would silently widen or narrow the list.

use std::fmt;
use std::net::IpAddr;

/// One `address/prefix` network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                mask_eq(&n.octets(), &a.octets(), usize::from(self.prefix))
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                mask_eq(&n.octets(), &a.octets(), usize::from(self.prefix))
            }
            _ => false,
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask_eq(a: &[u8], b: &[u8], prefix: usize) -> bool {
    let (whole, rest) = (prefix / 8, prefix % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let m = 0xffu8 << (8 - rest);
    a[whole] & m == b[whole] & m
}

/// The networks connections may come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    nets: Vec<Network>,
}

impl AllowList {
    /// Parses `10.0.0.0/8,192.0.2.7,2001:db8::/32` (an address alone is a host: /32 or /128).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim) {
            if item.is_empty() {
                return Err(format!("--allow-from {list:?}: empty entry"));
            }
            let (a, p) = item.split_once('/').unwrap_or((item, ""));
            let addr: IpAddr = a
                .parse()
                .map_err(|_| format!("--allow-from: {item:?} is not an IP address or CIDR"))?;
            let addr = addr.to_canonical();
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = if p.is_empty() {
                max
            } else {
                p.parse::<u8>()
                    .ok()
                    .filter(|&n| n <= max)
                    .ok_or_else(|| format!("--allow-from: {item:?}: prefix must be 0..={max}"))?
            };
            let net = Network { addr, prefix };
            if !net.contains(addr) || !host_bits_clear(addr, prefix) {
                return Err(format!(
                    "--allow-from: {item:?} has bits set past /{prefix} (did you mean {}?)",
                    Network {
                        addr: masked(addr, prefix),
                        prefix
                    }
                ));
            }
            nets.push(net);
        }
        Ok(AllowList { nets })
    }

    /// Whether a peer at `ip` may connect.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.nets.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{n}")?;
        }
        Ok(())
    }
}

fn masked(addr: IpAddr, prefix: u8) -> IpAddr {
    fn clear<const N: usize>(mut o: [u8; N], prefix: usize) -> [u8; N] {
        for (i, b) in o.iter_mut().enumerate() {
            let keep = prefix.saturating_sub(i * 8).min(8);
            *b &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
        }
        o
    }
    match addr {
        IpAddr::V4(a) => IpAddr::from(clear(a.octets(), usize::from(prefix))),
        IpAddr::V6(a) => IpAddr::from(clear(a.octets(), usize::from(prefix))),
    }
}

fn host_bits_clear(addr: IpAddr, prefix: u8) -> bool {
    masked(addr, prefix) == addr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_and_hosts_match_as_written() {
        let l = AllowList::parse("10.0.0.0/8, 192.0.2.7,2001:db8::/32,172.16.0.0/12").unwrap();
        assert!(l.allows(ip("10.255.1.2")));
        assert!(l.allows(ip("192.0.2.7")));
        assert!(!l.allows(ip("192.0.2.8")));
        assert!(l.allows(ip("2001:db8:1::5")));
        assert!(!l.allows(ip("2001:db9::1")));
        assert!(l.allows(ip("172.31.255.255")));
        assert!(!l.allows(ip("172.32.0.0")));
        // An IPv4 peer on an IPv6 socket.
        assert!(l.allows(ip("::ffff:10.1.2.3")));
        assert!(!l.allows(ip("11.0.0.1")));
        assert_eq!(
            l.to_string(),
            "10.0.0.0/8,192.0.2.7/32,2001:db8::/32,172.16.0.0/12"
        );
        let any = AllowList::parse("0.0.0.0/0,::/0").unwrap();
        assert!(any.allows(ip("203.0.113.9")) && any.allows(ip("::1")));
    }

    #[test]
    fn bad_lists_are_refused_with_the_reason() {
        for (list, why) in [
            ("", "empty entry"),
            ("10.0.0.0/8,", "empty entry"),
            ("10.0.0.0/33", "prefix must be 0..=32"),
            ("::/129", "prefix must be 0..=128"),
            ("example.com", "not an IP address"),
            ("10.0.0.1/8", "did you mean 10.0.0.0/8?"),
            ("10.0.0.0/x", "prefix must be"),
        ] {
            let e = AllowList::parse(list).unwrap_err();
            assert!(e.contains(why), "{list:?}: {e}");
        }
    }
}
