//! Where notifications may go. Loopback, private (RFC 1918, CGNAT, unique local) and
//! link-local addresses (169.254.169.254, the cloud metadata service, among them) are
//! refused unless the configuration allows them; unspecified, multicast and broadcast
//! addresses always. Checked on every address a host name resolves to, when it is
//! resolved for the request (so a name cannot resolve to an allowed address when checked
//! and to a refused one when used).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which address classes are allowed, besides public ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub allow_loopback: bool,
    pub allow_private: bool,
    pub allow_link_local: bool,
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("destination {addr} is {class}, which the configuration does not allow ({hint})")]
pub struct Refused {
    pub addr: IpAddr,
    pub class: &'static str,
    pub hint: &'static str,
}

impl Policy {
    /// Refuses an address outside the allowed classes.
    pub fn check(&self, addr: IpAddr) -> Result<(), Refused> {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        let refuse = |class, hint| Err(Refused { addr, class, hint });
        match class(addr) {
            Class::Public => Ok(()),
            Class::Loopback if self.allow_loopback => Ok(()),
            Class::Loopback => refuse("a loopback address", "notify.allow_loopback"),
            Class::Private if self.allow_private => Ok(()),
            Class::Private => refuse("a private address", "notify.allow_private"),
            Class::LinkLocal if self.allow_link_local => Ok(()),
            Class::LinkLocal => refuse("a link-local address", "notify.allow_link_local"),
            Class::Never => refuse("not a destination", "never allowed"),
        }
    }
}

enum Class {
    Public,
    Loopback,
    Private,
    LinkLocal,
    Never,
}

fn class(addr: IpAddr) -> Class {
    match addr {
        IpAddr::V4(a) => v4(a),
        IpAddr::V6(a) => v6(a),
    }
}

fn v4(a: Ipv4Addr) -> Class {
    let o = a.octets();
    if a.is_loopback() {
        Class::Loopback
    } else if a.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64) {
        Class::Private
    } else if a.is_link_local() {
        Class::LinkLocal
    } else if a.is_unspecified() || a.is_multicast() || a.is_broadcast() || o[0] == 0 {
        Class::Never
    } else {
        Class::Public
    }
}

fn v6(a: Ipv6Addr) -> Class {
    let s = a.segments();
    if a.is_loopback() {
        Class::Loopback
    } else if (s[0] & 0xfe00) == 0xfc00 {
        Class::Private
    } else if (s[0] & 0xffc0) == 0xfe80 {
        Class::LinkLocal
    } else if a.is_unspecified() || a.is_multicast() {
        Class::Never
    } else {
        Class::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let strict = Policy::default();
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:169.254.169.254",
            "224.0.0.1",
        ] {
            assert!(strict.check(refused.parse().unwrap()).is_err(), "{refused}");
        }
        for ok in ["8.8.8.8", "2606:4700::1111", "172.32.0.1"] {
            assert!(strict.check(ok.parse().unwrap()).is_ok(), "{ok}");
        }
        let loopback = Policy {
            allow_loopback: true,
            ..Policy::default()
        };
        assert!(loopback.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(loopback.check("169.254.169.254".parse().unwrap()).is_err());
    }
}
