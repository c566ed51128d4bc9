//! The client's address, for brute-force limits and the audit trail. `X-Forwarded-For` is
//! believed only from configured trusted proxies, and then only its last untrusted hop.

use crate::config::Config;
use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};

pub fn client_addr(config: &Config, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let peer_ip = peer.ip();
    if !config.http.trusted_proxies.contains(&peer_ip) {
        return peer_ip;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|hop| !config.http.trusted_proxies.contains(hop))
        .unwrap_or(peer_ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let mut config = Config::default();
        config.http.trusted_proxies = vec!["10.0.0.1".parse().unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 198.51.100.4, 10.0.0.1"),
        );
        let proxy: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let stranger: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        assert_eq!(
            client_addr(&config, proxy, &headers),
            "198.51.100.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_addr(&config, stranger, &headers), stranger.ip());
        assert_eq!(client_addr(&config, proxy, &HeaderMap::new()), proxy.ip());
    }
}
