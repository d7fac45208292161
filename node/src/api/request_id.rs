//! Request ids: the caller's own `X-Request-Id` when it is sane, else a new one; echoed on the answer and put in every log line of the request.

use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use actix_web::http::header::HeaderMap;

/// The header that carries a request's id, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest incoming id kept; a longer one is replaced.
const MAX_LEN: usize = 64;

/// The id of the request with these headers: the caller's, if it is 1 to 64
/// characters of `A-Z a-z 0-9 - _ . :` (safe in a log line and a header),
/// otherwise a new one.
pub fn of(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_sane(id))
        .map_or_else(fresh, str::to_owned)
}

fn is_sane(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A new id: 16 hex digits, unpredictable across processes and distinct within one.
fn fresh() -> String {
    // A per-process random key (std's hasher seed), hashed with a counter:
    // no two requests of a process share an id, and ids do not reveal how
    // many requests the node served.
    static KEY: LazyLock<std::collections::hash_map::RandomState> =
        LazyLock::new(std::collections::hash_map::RandomState::new);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = KEY.build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(id: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(
            HeaderName::from_static(REQUEST_ID_HEADER),
            HeaderValue::from_str(id).unwrap(),
        );
        map
    }

    #[test]
    fn a_sane_id_is_kept_and_others_are_replaced() {
        assert_eq!(of(&headers("abc-123_x.y:z")), "abc-123_x.y:z");
        for bad in ["", "has space", "semi;colon", &"a".repeat(65)] {
            let id = of(&headers(bad));
            assert_ne!(id, bad);
            assert_eq!(id.len(), 16, "{id}");
        }
        assert_ne!(of(&HeaderMap::new()), of(&HeaderMap::new()));
    }
}
