//! The client's address (contract §5): the TCP peer, unless the peer is one of
//! `http.trusted_proxies`; then the address that proxy forwarded in `http.forwarded_header`.
//!
//! A forwarding header is a list its proxies appended to, and everything left of the nearest
//! trusted hop was written by whoever sent the request — so it is read from the right: each
//! trusted hop passes on to the one before it, and the first address that is not a trusted
//! proxy is the client. An entry that is not an address (`unknown`, an obfuscated name, garbage)
//! ends the walk at the hop that wrote it. A peer that is not trusted is the client whatever
//! it sends.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

use crate::config::{ForwardedHeader, ProxyNet};

/// The address rate limits, audit events and `last_ip` see, in the request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Hops read from a forwarding header at most (the nearest ones).
const MAX_HOPS: usize = 32;

/// The trusted proxies and the header they write.
#[derive(Debug, Default)]
pub struct TrustedProxies {
    nets: Vec<ProxyNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    pub fn new(nets: Vec<ProxyNet>, header: ForwardedHeader) -> Self {
        Self { nets, header }
    }

    fn trusts(&self, ip: &IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    /// The client of a request from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(&peer) {
            return peer;
        }
        let (name, parse): (&str, fn(&str) -> Option<IpAddr>) = match self.header {
            ForwardedHeader::XForwardedFor => ("x-forwarded-for", x_forwarded_for_hop),
            ForwardedHeader::Forwarded => ("forwarded", forwarded_hop),
        };
        let mut client = peer;
        for hop in hops_nearest_first(headers, name, parse).take(MAX_HOPS) {
            match hop {
                Some(ip) => {
                    client = ip;
                    if !self.trusts(&ip) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

/// The entries of every `name` header, the nearest hop (the last entry of the last line)
/// first; `None` for one that is not an address. Split on the raw bytes, so that one entry a
/// client filled with bytes that are not UTF-8 does not spoil the entries its proxy appended.
fn hops_nearest_first<'h>(
    headers: &'h HeaderMap,
    name: &str,
    parse: fn(&str) -> Option<IpAddr>,
) -> impl Iterator<Item = Option<IpAddr>> + 'h {
    let lines: Vec<&[u8]> = headers.get_all(name).iter().map(|v| v.as_bytes()).collect();
    lines.into_iter().rev().flat_map(move |line| {
        line.rsplit(|b| *b == b',').map(move |entry| std::str::from_utf8(entry).ok().and_then(parse))
    })
}

/// `203.0.113.7`, `203.0.113.7:4711`, `2001:db8::1`, `[2001:db8::1]:4711`.
fn address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let ip = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| text.strip_prefix('[')?.strip_suffix(']')?.parse::<IpAddr>().ok())?;
    // `::ffff:198.51.100.7` is 198.51.100.7: one key for the limits and the audit trail.
    Some(ip.to_canonical())
}

fn x_forwarded_for_hop(entry: &str) -> Option<IpAddr> {
    address(entry)
}

/// The `for=` of one RFC 7239 element: `for=192.0.2.60;proto=http`, `for="[2001:db8::1]:4711"`.
fn forwarded_hop(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        address(value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value))
    })
}

/// Puts the request's [`ClientAddr`] in its extensions.
pub async fn resolve(State(proxies): State<Arc<TrustedProxies>>, mut req: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let client = proxies.client(peer.ip(), req.headers());
        req.extensions_mut().insert(ClientAddr(client));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(nets: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| ProxyNet::try_from(n.to_string()).unwrap()).collect(), header)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let p = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let h = headers(&[("x-forwarded-for", "198.51.100.1")]);
        assert_eq!(p.client(ip("203.0.113.9"), &h), ip("203.0.113.9"));
        assert_eq!(TrustedProxies::default().client(ip("127.0.0.1"), &h), ip("127.0.0.1"));
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "192.0.2.7"], ForwardedHeader::XForwardedFor);
        // The client forged the first entry; the trusted proxy appended the real peer.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.1, 10.1.1.1")]);
        assert_eq!(p.client(ip("192.0.2.7"), &h), ip("198.51.100.1"));
        // Over several header lines, with ports and IPv6.
        let h = headers(&[("x-forwarded-for", "[2001:db8::5]:4711"), ("x-forwarded-for", "10.2.2.2:80")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("2001:db8::5"));
        // Every hop trusted: the farthest one.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 10.8.8.8")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.9.9.9"));
        // No header: the proxy itself.
        assert_eq!(p.client(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
    }

    #[test]
    fn garbage_ends_the_walk_at_the_hop_that_wrote_it() {
        let p = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let h = headers(&[("x-forwarded-for", "198.51.100.1, unknown, 10.1.1.1")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.1.1.1"));
        let h = headers(&[("x-forwarded-for", "not-an-address")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn bytes_that_are_not_utf8_spoil_only_their_own_entry() {
        let p = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let mut h = HeaderMap::new();
        // What nginx's $proxy_add_x_forwarded_for makes of a client's own junk header.
        h.insert("x-forwarded-for", axum::http::HeaderValue::from_bytes(b"\xff\xfe, 198.51.100.7").unwrap());
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("198.51.100.7"));
        // And IPv4-mapped addresses are the IPv4 address, peer and hop alike.
        let h = headers(&[("x-forwarded-for", "::ffff:198.51.100.9")]);
        assert_eq!(p.client(ip("::ffff:10.0.0.1"), &h), ip("198.51.100.9"));
        assert_eq!(TrustedProxies::default().client(ip("::ffff:203.0.113.4"), &HeaderMap::new()), ip("203.0.113.4"));
    }

    #[test]
    fn rfc_7239_forwarded_is_read_when_configured_and_only_then() {
        let p = proxies(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let h = headers(&[
            ("forwarded", r#"for=1.2.3.4, for="[2001:db8:cafe::17]:4711";proto=https, For=10.3.3.3;by=10.0.0.1"#),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("2001:db8:cafe::17"));
        let xff = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        assert_eq!(xff.client(ip("10.0.0.1"), &h), ip("198.51.100.1"));
        // `for=_hidden` is no address.
        let h = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn proxies_are_addresses_or_blocks_and_nothing_else() {
        assert!(ProxyNet::try_from("10.1.2.3".to_string()).unwrap().contains(&ip("10.1.2.3")));
        assert!(!ProxyNet::try_from("10.1.2.3".to_string()).unwrap().contains(&ip("10.1.2.4")));
        assert!(ProxyNet::try_from("10.1.2.3/16".to_string()).unwrap().contains(&ip("10.1.200.1")));
        assert!(ProxyNet::try_from("127.0.0.1".to_string()).unwrap().contains(&ip("::ffff:127.0.0.1")));
        assert!(ProxyNet::try_from("10.0.0.0/33".to_string()).is_err());
        assert!(ProxyNet::try_from("proxy.internal".to_string()).is_err());
    }
}
