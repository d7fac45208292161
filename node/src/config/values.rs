//! Checking one value: from the TOML file or as text from the environment or a flag, into the type its key holds.

use crate::net::{canonical_host, PeerAddr};

/// A value before it is checked: from the TOML file, or text from the environment or a flag.
#[derive(Clone, Copy)]
pub(super) enum Raw<'a> {
    /// A value of the config file, already typed by TOML.
    Toml(&'a toml::Value),
    /// An environment variable's or a flag's text.
    Text(&'a str),
}

/// How a TOML value's type reads in an error: "a string", "a list", ...
pub(super) fn toml_type(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

/// A whole number `>= 0`.
pub(super) fn whole(raw: Raw<'_>) -> Result<u64, String> {
    match raw {
        Raw::Toml(toml::Value::Integer(n)) => {
            u64::try_from(*n).map_err(|_| format!("must not be negative, got {n}"))
        }
        Raw::Toml(other) => Err(format!("must be a whole number, got {}", toml_type(other))),
        Raw::Text("") => Err("is empty; give a whole number or unset it".into()),
        Raw::Text(text) if text.bytes().all(|b| b.is_ascii_digit()) => text
            .parse::<u64>()
            .map_err(|_| format!("{text:?} is too large")),
        Raw::Text(text) => Err(format!("{text:?} is not a whole number")),
    }
}

/// A boolean: a TOML boolean, or `true`/`false` (also `1`/`0`, `yes`/`no`) as text.
pub(super) fn boolean(raw: Raw<'_>) -> Result<bool, String> {
    match raw {
        Raw::Toml(toml::Value::Boolean(b)) => Ok(*b),
        Raw::Toml(other) => Err(format!("must be true or false, got {}", toml_type(other))),
        Raw::Text(text) => match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(format!("{text:?} is not true or false")),
        },
    }
}

/// A whole number in `min..=max`.
pub(super) fn whole_in(raw: Raw<'_>, min: u64, max: u64) -> Result<u64, String> {
    let n = whole(raw)?;
    if n < min || n > max {
        Err(format!("must be from {min} to {max}, got {n}"))
    } else {
        Ok(n)
    }
}

/// A whole number `>= min` that fits a `usize`.
pub(super) fn size_at_least(raw: Raw<'_>, min: u64) -> Result<usize, String> {
    let n = whole_in(raw, min, usize::MAX as u64)?;
    usize::try_from(n).map_err(|_| format!("{n} is too large for this machine"))
}

/// A string: any text, or a TOML string.
pub(super) fn text(raw: Raw<'_>) -> Result<&str, String> {
    match raw {
        Raw::Toml(toml::Value::String(s)) => Ok(s),
        Raw::Toml(other) => Err(format!("must be a string, got {}", toml_type(other))),
        Raw::Text(s) => Ok(s),
    }
}

/// A timestamp in seconds: a finite number `>= 0`, integer or float.
pub(super) fn timestamp(raw: Raw<'_>) -> Result<f64, String> {
    let t = match raw {
        Raw::Toml(toml::Value::Float(t)) => *t,
        Raw::Toml(toml::Value::Integer(n)) => *n as f64,
        Raw::Toml(other) => return Err(format!("must be a number, got {}", toml_type(other))),
        Raw::Text(s) => s
            .parse::<f64>()
            .map_err(|_| format!("{s:?} is not a number"))?,
    };
    if !t.is_finite() || t < 0.0 {
        return Err(format!("must be a finite number >= 0, got {t}"));
    }
    Ok(t)
}

/// Checks a listening address: an IP address (IPv6 with or without brackets) or a host name.
pub(super) fn check_bind_host(host: &str) -> Result<String, String> {
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = unbracketed.parse::<std::net::IpAddr>() {
        return Ok(ip.to_string());
    }
    if host.is_empty() {
        return Err("is empty; give an IP address or host name".into());
    }
    canonical_host(host).map_err(|_| format!("{host:?} is not an IP address or host name"))
}

/// A list of peers: a TOML list of strings, or text separated by commas or whitespace.
pub(super) fn peer_list(raw: Raw<'_>) -> Result<Vec<PeerAddr>, String> {
    let entries: Vec<&str> = match raw {
        Raw::Toml(toml::Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                toml::Value::String(s) => Ok(s.as_str()),
                other => Err(format!("must list strings, found {}", toml_type(other))),
            })
            .collect::<Result<_, _>>()?,
        Raw::Toml(other) => {
            return Err(format!(
                "must be a list of strings, got {}",
                toml_type(other)
            ))
        }
        Raw::Text(s) => s
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
            .collect(),
    };
    let mut peers: Vec<PeerAddr> = Vec::new();
    for entry in entries {
        let peer = PeerAddr::parse(entry).map_err(|e| e.to_string())?;
        if !peers.contains(&peer) {
            peers.push(peer);
        }
    }
    Ok(peers)
}
