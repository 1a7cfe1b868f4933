//! Which addresses a delivery may reach. A subscriber names the URL, so without this check
//! anyone allowed to create a subscription could make the sink call services inside the
//! network it runs in (cloud metadata, admin ports, databases).
//!
//! The check runs on the addresses actually dialled: [`GuardedResolver`] hands the HTTP client
//! only permitted addresses, so a name that resolves to a public address when the subscription
//! is created and to an internal one later (DNS rebinding) is still refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{host} is an internal address ({address}), which webhooks may not reach")]
    Forbidden { host: String, address: IpAddr },
    #[error("{host} does not resolve: {reason}")]
    Unresolvable { host: String, reason: String },
    #[error("the URL names no host")]
    NoHost,
}

/// IPv4 networks that are not the public internet: (network, prefix length).
const INTERNAL_V4: [([u8; 4], u8); 15] = [
    ([0, 0, 0, 0], 8),       // "this network", 0.0.0.0 included
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // carrier-grade NAT
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local, cloud metadata services
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // documentation
    ([192, 88, 99, 0], 24),  // 6to4 relay anycast
    ([192, 168, 0, 0], 16),  // private
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation
    ([203, 0, 113, 0], 24),  // documentation
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, broadcast included
];

/// IPv6 networks that are not the public internet, besides those embedding an IPv4 address.
const INTERNAL_V6: [(u128, u8); 9] = [
    (0x0064_ff9b_0001 << 80, 48), // local-use NAT64
    (0x0100 << 112, 64),          // discard-only
    (0x2001 << 112, 23),          // IETF protocol assignments, Teredo included
    (0x2001_0db8 << 96, 32),      // documentation
    (0xfc00 << 112, 7),           // unique local
    (0xfe80 << 112, 10),          // link-local
    (0xfec0 << 112, 10),          // site-local (deprecated)
    (0xff00 << 112, 8),           // multicast
    (0x3fff << 112, 20),          // documentation
];

fn in_v4(ip: Ipv4Addr, network: [u8; 4], prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(ip) & mask == u32::from_be_bytes(network) & mask
}

fn in_v6(ip: Ipv6Addr, network: u128, prefix: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    u128::from(ip) & mask == network & mask
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`, `::1` and `::` included), NAT64 (`64:ff9b::/96`) and 6to4
/// (`2002::/16`). Each of them reaches that IPv4 address, so each is judged as it.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if bits >> 32 == 0xffff || bits >> 32 == 0 || in_v6(ip, 0x0064_ff9b << 96, 96) {
        return Some(low32);
    }
    if in_v6(ip, 0x2002 << 112, 16) {
        return Some(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    None
}

/// An address on the same canonical footing for both checks: IPv4 in IPv6 clothing is IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// True for loopback, private, link-local, CGNAT, unique-local, multicast, unspecified,
/// documentation and reserved addresses, in whatever form they are written.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => INTERNAL_V4.iter().any(|(n, p)| in_v4(v4, *n, *p)),
        IpAddr::V6(v6) => INTERNAL_V6.iter().any(|(n, p)| in_v6(v6, *n, *p)),
    }
}

/// Internal addresses are refused unless an operator allowed their network explicitly.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    allowed: Vec<IpNet>,
}

impl TargetPolicy {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        !is_internal(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }

    /// The host of `url` when it is an address literal (`http://10.0.0.1/`, `http://[::1]/`,
    /// or `http://2130706433/`, which URL parsing turns into `127.0.0.1`).
    pub fn literal(url: &Url) -> Option<IpAddr> {
        match url.host()? {
            Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            Host::Domain(_) => None,
        }
    }

    /// Checks a literal host without resolving anything; names are checked when dialled.
    pub fn check_literal(&self, url: &Url) -> Result<(), TargetError> {
        match Self::literal(url) {
            Some(address) if !self.permits(address) => Err(TargetError::Forbidden {
                host: url.host_str().unwrap_or_default().to_owned(),
                address,
            }),
            _ => Ok(()),
        }
    }

    /// Checks a URL as a new subscription's: a literal host as it is, a name by resolving it
    /// now and refusing it if any of its addresses is internal.
    pub async fn check_url(&self, url: &Url) -> Result<(), TargetError> {
        self.check_literal(url)?;
        let Some(Host::Domain(name)) = url.host() else {
            return if url.host().is_some() {
                Ok(())
            } else {
                Err(TargetError::NoHost)
            };
        };
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses = resolve(name, port).await?;
        match addresses.iter().find(|a| !self.permits(a.ip())) {
            Some(bad) => Err(TargetError::Forbidden {
                host: name.to_owned(),
                address: bad.ip(),
            }),
            None => Ok(()),
        }
    }
}

async fn resolve(name: &str, port: u16) -> Result<Vec<SocketAddr>, TargetError> {
    let unresolvable = |reason: String| TargetError::Unresolvable {
        host: name.to_owned(),
        reason,
    };
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|e| unresolvable(e.to_string()))?
        .collect();
    if addresses.is_empty() {
        return Err(unresolvable("no addresses".into()));
    }
    Ok(addresses)
}

/// The HTTP client's resolver: it passes on only the addresses the policy permits, and fails
/// the request when none is left.
pub struct GuardedResolver {
    policy: Arc<TargetPolicy>,
}

impl GuardedResolver {
    pub fn new(policy: Arc<TargetPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses = resolve(&host, 0).await?;
            let permitted: Vec<SocketAddr> = addresses
                .iter()
                .copied()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if permitted.is_empty() {
                let address = addresses[0].ip();
                return Err(Box::new(TargetError::Forbidden { host, address }) as _);
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_recognised_in_every_form() {
        for text in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "10.1.2.3",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert!(is_internal(ip(text)), "{text} should be internal");
        }
        for text in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(ip(text)), "{text} should be public");
        }
    }

    #[test]
    fn literal_hosts_are_checked_as_urls_spell_them() {
        let policy = TargetPolicy::default();
        for url in [
            "http://127.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
            "http://169.254.169.254/latest/meta-data",
            "http://2130706433/",
            "http://0x7f.1/",
        ] {
            let url = Url::parse(url).unwrap();
            assert!(
                policy.check_literal(&url).is_err(),
                "{url} should be refused"
            );
        }
        assert!(policy
            .check_literal(&Url::parse("https://93.184.216.34/").unwrap())
            .is_ok());
    }

    #[test]
    fn an_allowed_network_lets_its_addresses_through() {
        let policy = TargetPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(policy.permits(ip("127.0.0.1")));
        assert!(policy.permits(ip("::ffff:127.0.0.1")));
        assert!(!policy.permits(ip("10.0.0.1")));
        assert!(!policy.permits(ip("::1")));
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        let policy = TargetPolicy::default();
        let url = Url::parse("http://localhost:9/").unwrap();
        assert!(matches!(
            policy.check_url(&url).await,
            Err(TargetError::Forbidden { .. })
        ));
    }
}
