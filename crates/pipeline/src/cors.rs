//! Which web pages may call the API from a browser. A request that carries an `Origin` other
//! than the API's own and those in `CORS_ALLOWED_ORIGINS` is refused before anything is read
//! or stored: withholding CORS headers alone would not stop a cross-origin "simple" `POST`
//! from being stored, only its answer from being read.

/// Request headers a browser may send cross-origin.
pub const ALLOWED_HEADERS: &str = "Authorization, Content-Type, Content-Disposition, \
     Idempotency-Key, X-Request-Id, Tus-Resumable, Upload-Length, Upload-Offset, Upload-Metadata, Upload-Checksum";
/// Response headers a page may read.
pub const EXPOSED_HEADERS: &str = "Location, X-Request-Id, Idempotent-Replayed, Retry-After, \
     WWW-Authenticate, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, \
     Tus-Checksum-Algorithm, Upload-Offset, \
     Upload-Length, Upload-Expires, Docpipe-Document-Id, Docpipe-Job-Id";
/// Methods a page may use.
pub const ALLOWED_METHODS: &str = "GET, HEAD, POST, PATCH, DELETE, OPTIONS";
/// How long a browser may cache a preflight's answer, in seconds.
pub const MAX_AGE_SECONDS: u32 = 600;

/// What the `Origin` of a request means for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// No `Origin` (not a browser, or a same-origin `GET`): CORS does not apply.
    Absent,
    /// An origin that may call the API; its responses name it in
    /// `Access-Control-Allow-Origin`.
    Allowed(String),
    /// Any other origin: the request is refused.
    Refused(String),
}

/// Judges `origin` against the API's own origin (`https://host[:port]`) and the allowed list
/// (lowercase, no trailing slash).
pub fn check(origin: Option<&str>, own: &str, allowed: &[String]) -> Origin {
    let Some(origin) = origin.map(str::trim).filter(|o| !o.is_empty()) else {
        return Origin::Absent;
    };
    let normalized = origin.trim_end_matches('/').to_ascii_lowercase();
    if normalized == own.to_ascii_lowercase() || allowed.contains(&normalized) {
        Origin::Allowed(origin.to_owned())
    } else {
        Origin::Refused(origin.chars().take(200).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_and_listed_origins_are_allowed_others_refused() {
        let allowed = vec!["https://app.example.com".to_owned()];
        let own = "https://docpipe.example.workers.dev";
        assert_eq!(check(None, own, &allowed), Origin::Absent);
        assert_eq!(
            check(Some("https://docpipe.example.workers.dev"), own, &allowed),
            Origin::Allowed("https://docpipe.example.workers.dev".into())
        );
        assert_eq!(
            check(Some("https://APP.example.com"), own, &allowed),
            Origin::Allowed("https://APP.example.com".into())
        );
        for evil in [
            "https://evil.example",
            "null",
            "https://app.example.com.evil.example",
        ] {
            assert_eq!(
                check(Some(evil), own, &allowed),
                Origin::Refused(evil.into()),
                "{evil}"
            );
        }
    }
}
