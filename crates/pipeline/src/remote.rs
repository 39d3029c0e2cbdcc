//! Which URLs docpipe fetches documents from when a client posts `{"url": …}` instead of a
//! body, so that a client cannot make docpipe read what only docpipe can reach.
//!
//! A URL is fetched only if it is `http` or `https`, carries no user name or password, is at
//! most [`MAX_URL_BYTES`] long, and names a public host: IP literals in loopback, private,
//! link-local (cloud metadata), shared, documentation, benchmarking, multicast and reserved
//! ranges are refused, IPv4 embedded in IPv6 included (parsing already turns spellings such
//! as `http://2130706433/` into `127.0.0.1`), and so are local names (`localhost`, `*.local`,
//! `*.internal`, `*.home.arpa`, `*.localdomain`, names without a dot). Names are not resolved
//! here: a Worker's fetch goes out through Cloudflare's network and cannot reach the
//! operator's private networks; these rules stop the literal addresses and local names.
//! Each redirect is checked by the same rules, at most [`MAX_REDIRECTS`] of them. Hosts in
//! `FETCH_ALLOWED_HOSTS` skip the address rules only.

use std::net::{Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// The longest URL docpipe fetches, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// At most this many redirects are followed, each checked like the first URL.
pub const MAX_REDIRECTS: usize = 5;

/// Hosts an operator allows although the address rules would refuse them (the var
/// `FETCH_ALLOWED_HOSTS`: comma-separated `host` or `host:port`, e.g.
/// `127.0.0.1:8787,files.internal`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts(Vec<(Host<String>, Option<u16>)>);

impl AllowedHosts {
    /// Parses the var's value: empty entries are ignored, host names compare
    /// case-insensitively, IPv6 is written `[::1]` or `[::1]:8080`; an entry that is not a
    /// `host` or `host:port` is an error.
    pub fn parse(value: &str) -> Result<Self, String> {
        let entries = value.split(',').map(str::trim).filter(|e| !e.is_empty());
        entries
            .map(allowed_entry)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether the URL's host is listed, with its port if the entry names one.
    pub fn allows(&self, url: &Url) -> bool {
        let Some(host) = url.host().map(|h| key(h.to_owned())) else {
            return false;
        };
        let port = url.port_or_known_default();
        self.0
            .iter()
            .any(|(h, p)| *h == host && p.is_none_or(|p| Some(p) == port))
    }
}

fn allowed_entry(entry: &str) -> Result<(Host<String>, Option<u16>), String> {
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (entry, None),
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| format!("`{entry}`: the port must be 0 to 65535"))
        })
        .transpose()?;
    let host = Host::parse(host).map_err(|e| {
        format!("`{entry}` is not a host or host:port ({e}); write IPv6 as `[::1]`")
    })?;
    Ok((key(host), port))
}

/// A host as compared: lowercase, without one trailing dot.
fn key(host: Host<String>) -> Host<String> {
    match host {
        Host::Domain(d) => Host::Domain(d.strip_suffix('.').unwrap_or(&d).to_ascii_lowercase()),
        ip => ip,
    }
}

/// Why a URL is not fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    /// The text is not an absolute URL.
    #[error("not an absolute URL: {reason}")]
    NotAUrl { reason: String },
    /// Not `http` or `https`.
    #[error("only http and https URLs are fetched, not `{scheme}:`")]
    Scheme { scheme: String },
    /// The URL names a user or password.
    #[error("a URL may not carry a user name or password")]
    Credentials,
    /// The URL is longer than [`MAX_URL_BYTES`].
    #[error("a URL may be at most {limit} bytes long")]
    TooLong { limit: usize },
    /// The host is not a public one.
    #[error("`{host}` {why}; docpipe fetches only from public addresses")]
    Address { host: String, why: &'static str },
}

/// The URL if docpipe may fetch it.
pub fn check(url: &str, allowed: &AllowedHosts) -> Result<Url, UrlRefused> {
    within_limit(url)?;
    vet(Url::parse(url).map_err(not_a_url)?, allowed)
}

/// The target of a redirect (`Location`, possibly relative to `base`), checked by the same
/// rules.
pub fn redirect(base: &Url, location: &str, allowed: &AllowedHosts) -> Result<Url, UrlRefused> {
    within_limit(location)?;
    vet(base.join(location).map_err(not_a_url)?, allowed)
}

const TOO_LONG: UrlRefused = UrlRefused::TooLong {
    limit: MAX_URL_BYTES,
};

fn within_limit(text: &str) -> Result<(), UrlRefused> {
    match text.len() {
        0..=MAX_URL_BYTES => Ok(()),
        _ => Err(TOO_LONG),
    }
}

fn not_a_url(error: url::ParseError) -> UrlRefused {
    UrlRefused::NotAUrl {
        reason: error.to_string(),
    }
}

fn vet(url: Url, allowed: &AllowedHosts) -> Result<Url, UrlRefused> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlRefused::Scheme {
            scheme: url.scheme().to_owned(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefused::Credentials);
    }
    within_limit(url.as_str())?;
    let Some(host) = url.host() else {
        return Err(not_a_url(url::ParseError::EmptyHost));
    };
    if allowed.allows(&url) {
        return Ok(url);
    }
    let why = match host {
        Host::Ipv4(a) => ipv4_why(a),
        Host::Ipv6(a) => ipv6_why(a),
        Host::Domain(d) => domain_why(d),
    };
    match why {
        Some(why) => Err(UrlRefused::Address {
            host: host.to_string(),
            why,
        }),
        None => Ok(url),
    }
}

fn ipv4_why(ip: Ipv4Addr) -> Option<&'static str> {
    Some(match ip.octets() {
        [0, ..] => "is an unspecified (\"this network\") address",
        [10, ..] | [192, 168, ..] => "is a private address",
        [172, b, ..] if b & 0xf0 == 16 => "is a private address",
        [127, ..] => "is a loopback address",
        [169, 254, ..] => "is a link-local (cloud metadata) address",
        [100, b, ..] if b & 0xc0 == 64 => "is a shared (carrier-grade NAT) address",
        [192, 0, 0, _] => "is reserved for protocol assignments",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "is a documentation address",
        [198, b, ..] if b & 0xfe == 18 => "is a benchmarking address",
        [255, 255, 255, 255] => "is the broadcast address",
        [a, ..] if a >= 240 => "is a reserved address",
        [a, ..] if a >= 224 => "is a multicast address",
        _ => return None,
    })
}

fn ipv6_why(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    Some(match s {
        _ if ip.is_unspecified() => "is an unspecified address",
        _ if ip.is_loopback() => "is a loopback address",
        [0, 0, 0, 0, 0, 0xffff | 0, ..] | [0x64, 0xff9b, 0, 0, 0, 0, ..] => {
            return ipv4_why(embedded);
        }
        [a, ..] if a & 0xfe00 == 0xfc00 => "is a unique-local (private) address",
        [a, ..] if a & 0xffc0 == 0xfe80 => "is a link-local address",
        [a, ..] if a & 0xffc0 == 0xfec0 => "is a site-local address",
        [a, ..] if a & 0xff00 == 0xff00 => "is a multicast address",
        [0x2001, 0x0db8, ..] => "is a documentation address",
        _ => return None,
    })
}

fn domain_why(domain: &str) -> Option<&'static str> {
    const LOCAL: [&str; 5] = ["localhost", "local", "internal", "home.arpa", "localdomain"];
    let d = domain.to_ascii_lowercase();
    let d = d.strip_suffix('.').unwrap_or(&d);
    let local = LOCAL
        .iter()
        .any(|l| d == *l || d.strip_suffix(l).is_some_and(|r| r.ends_with('.')));
    (local || !d.contains('.') || d.split('.').any(str::is_empty))
        .then_some("is not a public host name")
}

/// A file name from the URL's last non-empty path segment, percent-decoded; `None` when there
/// is none or it is not UTF-8. The caller applies its own file name rules.
pub fn filename(url: &Url) -> Option<String> {
    let segment = url.path_segments()?.rev().find(|s| !s.is_empty())?;
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.filter(|h| byte == b'%' && h.bytes().all(|c| c.is_ascii_hexdigit())) {
            Some(h) => {
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 3;
            }
            None => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> UrlRefused {
        check(url, &AllowedHosts::default()).unwrap_err()
    }

    fn why(url: &str) -> &'static str {
        match refused(url) {
            UrlRefused::Address { why, .. } => why,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn refuses_each_ipv4_class() {
        for (url, word) in [
            ("http://0.0.0.0/", "unspecified"),
            ("http://10.1.2.3/", "private"),
            ("http://172.31.0.1/", "private"),
            ("http://192.168.1.1/", "private"),
            ("http://127.0.0.1:8080/", "loopback"),
            ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
            ("http://100.100.0.1/", "carrier-grade NAT"),
            ("http://192.0.0.8/", "protocol assignments"),
            ("http://192.0.2.1/", "documentation"),
            ("http://198.51.100.7/", "documentation"),
            ("http://203.0.113.9/", "documentation"),
            ("http://198.19.0.1/", "benchmarking"),
            ("http://224.0.0.1/", "multicast"),
            ("http://240.0.0.1/", "reserved"),
            ("http://255.255.255.255/", "broadcast"),
        ] {
            assert!(why(url).contains(word), "{url}: {}", why(url));
        }
        assert!(check("http://172.32.0.1/", &AllowedHosts::default()).is_ok());
        assert!(check("http://100.128.0.1/", &AllowedHosts::default()).is_ok());
    }

    #[test]
    fn refuses_odd_ipv4_spellings_of_loopback() {
        for url in "http://2130706433/ http://0x7f.1/ http://0177.0.0.1/ http://127.1/".split(' ') {
            assert_eq!(
                refused(url).to_string(),
                "`127.0.0.1` is a loopback address; docpipe fetches only from public addresses"
            );
        }
    }

    #[test]
    fn refuses_each_ipv6_class_and_embedded_ipv4() {
        for (url, word) in [
            ("http://[::1]/", "loopback"),
            ("http://[::]/", "unspecified"),
            ("http://[fd00::1]/", "unique-local"),
            ("http://[fe80::1]/", "link-local"),
            ("http://[fec0::1]/", "site-local"),
            ("http://[ff02::1]/", "multicast"),
            ("http://[2001:db8::1]/", "documentation"),
            ("http://[::ffff:127.0.0.1]/", "loopback"),
            ("http://[::ffff:7f00:1]/", "loopback"),
            ("http://[::10.0.0.1]/", "private"),
            ("http://[64:ff9b::a9fe:a9fe]/", "cloud metadata"),
        ] {
            assert!(why(url).contains(word), "{url}: {}", why(url));
        }
    }

    #[test]
    fn refuses_local_host_names() {
        let urls = "http://localhost/ http://LOCALHOST/ http://localhost./ http://api.localhost/
            http://printer.local/ http://metadata.google.internal/computeMetadata/v1/
            http://nas.home.arpa/ http://box.localdomain/ http://intranet/ http://a..example.com/";
        for url in urls.split_whitespace() {
            assert_eq!(why(url), "is not a public host name", "{url}");
        }
    }

    #[test]
    fn refuses_other_schemes_credentials_relative_and_long_text() {
        let text = |url: &str| refused(url).to_string();
        for (url, scheme) in [("ftp://e.com/a.pdf", "ftp"), ("file:///etc/passwd", "file")] {
            let refusal = format!("only http and https URLs are fetched, not `{scheme}:`");
            assert_eq!(text(url), refusal);
        }
        let javascript = refused("javascript:alert(1)");
        assert!(matches!(javascript, UrlRefused::Scheme { .. }));
        for url in "https://user:pw@e.com/ https://:pw@e.com/ https://user@e.com/".split(' ') {
            assert_eq!(refused(url), UrlRefused::Credentials, "{url}");
        }
        let relative = "not an absolute URL: relative URL without a base";
        assert_eq!(text("/a.pdf"), relative);
        assert!(matches!(
            refused("http://a b.com/"),
            UrlRefused::NotAUrl { .. }
        ));
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert_eq!(text(&long), "a URL may be at most 2048 bytes long");
    }

    #[test]
    fn accepts_public_urls() {
        let urls = "https://example.com/a.pdf http://93.184.215.14/ https://[2606:4700::1111]/";
        for url in urls.split(' ') {
            assert_eq!(check(url, &AllowedHosts::default()).unwrap().as_str(), url);
        }
    }

    #[test]
    fn allowed_hosts_skip_only_the_address_rules() {
        let allowed = AllowedHosts::parse(" 127.0.0.1:8787 , ,Files.Internal.,[::1]").unwrap();
        assert!(check("http://127.0.0.1:8787/a.pdf", &allowed).is_ok());
        let other_port = check("http://127.0.0.1:9000/", &allowed);
        assert!(matches!(other_port, Err(UrlRefused::Address { .. })));
        assert!(check("https://files.internal/x", &allowed).is_ok());
        assert!(check("http://FILES.INTERNAL.:81/x", &allowed).is_ok());
        assert!(check("http://[::1]:8080/", &allowed).is_ok());
        let ftp = check("ftp://files.internal/x", &allowed);
        assert!(matches!(ftp, Err(UrlRefused::Scheme { .. })));
        let credentials = check("http://u:p@files.internal/", &allowed);
        assert_eq!(credentials, Err(UrlRefused::Credentials));
    }

    #[test]
    fn allowed_host_port_compares_with_the_default_port() {
        let allowed = AllowedHosts::parse("intranet:443").unwrap();
        assert!(check("https://intranet/", &allowed).is_ok());
        assert!(check("http://intranet/", &allowed).is_err());
    }

    #[test]
    fn allowed_hosts_parse_refuses_non_hosts() {
        assert_eq!(AllowedHosts::parse("  "), Ok(AllowedHosts::default()));
        for bad in [
            "http://x.com",
            "x.com/path",
            "x.com:",
            "x.com:99999",
            "::1",
            "a|b",
            "[::1",
        ] {
            assert!(AllowedHosts::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirects_resolve_against_the_base_and_are_checked() {
        let base = Url::parse("https://example.com/docs/a.pdf").unwrap();
        let none = AllowedHosts::default();
        let relative = redirect(&base, "/b.pdf", &none).unwrap();
        assert_eq!(relative.as_str(), "https://example.com/b.pdf");
        let metadata = redirect(&base, "http://169.254.169.254/latest/meta-data", &none);
        assert!(matches!(metadata, Err(UrlRefused::Address { .. })));
        let ftp = redirect(&base, "ftp://example.com/b.pdf", &none);
        assert!(matches!(ftp, Err(UrlRefused::Scheme { .. })));
    }

    #[test]
    fn filename_is_the_last_non_empty_segment_decoded() {
        let name = |path: &str| filename(&Url::parse(&format!("https://e.com{path}")).unwrap());
        for (path, expected) in [
            ("/reports/Q3%20report.pdf?x=1", "Q3 report.pdf"),
            ("/dir/", "dir"),
            ("/r%C3%A9sum%C3%A9.pdf", "résumé.pdf"),
            ("/100%25.pdf", "100%.pdf"),
            ("/a%zz.pdf", "a%zz.pdf"),
        ] {
            assert_eq!(name(path).as_deref(), Some(expected), "{path}");
        }
        assert_eq!(name("/"), None);
        assert_eq!(name("/bad%FF%FE.pdf"), None);
    }
}
