//! Reading values with units and rules of their own: names, domains, sizes,
//! durations, cpu, commands, build paths and image references.

use super::Checker;
use crate::diagnostic::constructors as diag;
use crate::parse::{Node, Value};
use std::time::Duration;

/// Whether `name` is a DNS-1123 label of at most `max` characters that
/// starts with a letter (so it is also a valid Kubernetes Service name).
pub(crate) fn is_dns_label(name: &str, max: usize) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[bytes.len() - 1] != b'-'
}

/// A DNS-1123 label close to `name`, for "try `...`" help.
fn label_suggestion(name: &str, max: usize) -> Option<String> {
    let mut out = String::new();
    for c in name.chars() {
        match c {
            'a'..='z' | '0'..='9' => out.push(c),
            'A'..='Z' => out.push(c.to_ascii_lowercase()),
            '-' | '_' | '.' | ' ' if !out.ends_with('-') => out.push('-'),
            _ => {}
        }
    }
    let trimmed = out.trim_start_matches(|c: char| c == '-' || c.is_ascii_digit());
    let mut candidate: String = trimmed.chars().take(max).collect();
    while candidate.ends_with('-') {
        candidate.pop();
    }
    (is_dns_label(&candidate, max) && candidate != name).then_some(candidate)
}

/// Whether `name` is a valid environment variable (or secret) name.
pub(crate) fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `domain` is a valid DNS name (labels of letters, digits and `-`).
/// An all-digit last label (`10.0.0.1`) is an IP address, which routers and
/// Ingress hosts do not take as a host name.
pub(crate) fn is_domain(domain: &str) -> bool {
    domain.len() <= 253
        && !domain.is_empty()
        && domain
            .rsplit('.')
            .next()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
        && domain.split('.').all(|label| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= 63
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
                && bytes[0] != b'-'
                && bytes[bytes.len() - 1] != b'-'
        })
}

/// Longest service or database name: a DNS-1123 label.
const MAX_COMPONENT_NAME: usize = 63;
/// Names that reference roots already use.
const RESERVED_NAMES: [&str; 2] = ["secret", "app"];

impl Checker<'_> {
    /// A name that must be a DNS-1123 label of at most `max` characters.
    pub(crate) fn dns_label(
        &mut self,
        name: &str,
        what: &str,
        max: usize,
        span: crate::span::Span,
    ) -> bool {
        if is_dns_label(name, max) {
            return true;
        }
        let rule = format!(
            "use lowercase letters, digits and `-`, start with a letter, end with a letter or digit, at most {max} characters"
        );
        self.report(diag::invalid_name(
            what,
            name,
            &rule,
            span,
            label_suggestion(name, max),
        ));
        false
    }

    /// A service or database name: a DNS-1123 label that is not one of the
    /// reference roots, which `${secret.X}` and `${app.name}` already take.
    pub(crate) fn component_name(
        &mut self,
        name: &str,
        what: &str,
        span: crate::span::Span,
    ) -> bool {
        if !self.dns_label(name, what, MAX_COMPONENT_NAME, span) {
            return false;
        }
        if RESERVED_NAMES.contains(&name) {
            let rule = format!(
                "`{name}` is reserved: `${{{name}.…}}` is already a reference root, so this {what} could never be referred to; pick another name"
            );
            self.report(diag::invalid_name(
                what,
                name,
                &rule,
                span,
                Some(format!("{name}s")),
            ));
            return false;
        }
        true
    }

    /// A domain name, lowercased.
    pub(crate) fn domain(&mut self, node: &Node, what: &str) -> Option<String> {
        let domain = self.string(node, what)?;
        if is_domain(&domain) {
            Some(domain.to_ascii_lowercase())
        } else {
            self.report(diag::invalid_domain(&domain, node.span));
            None
        }
    }

    /// A size in bytes: a bare number is `bare_unit_bytes` each (MiB for
    /// memory, GiB for storage); a string is a Kubernetes quantity.
    pub(crate) fn size(
        &mut self,
        node: &Node,
        key: &str,
        bare_unit: &str,
        bare_unit_bytes: u64,
    ) -> Option<u64> {
        let bytes = match &node.value {
            Value::Int(n) => u64::try_from(*n)
                .ok()
                .and_then(|n| n.checked_mul(bare_unit_bytes)),
            Value::Float(f) => {
                let bytes = f * bare_unit_bytes as f64;
                (bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64)
                    .then(|| bytes.round() as u64)
            }
            Value::Str(text) => parse_quantity(text),
            _ => {
                self.report(diag::wrong_type(
                    &format!("`{key}`"),
                    "a number or a quantity string",
                    node.value.type_name(),
                    node.span,
                ));
                return None;
            }
        };
        match bytes {
            Some(bytes) if bytes > 0 => Some(bytes),
            _ => {
                // The value as written, without YAML quotes.
                let found = node
                    .scalar_text(self.text)
                    .unwrap_or_else(|| node.span.slice(self.text));
                self.report(diag::invalid_size(
                    key,
                    found,
                    bare_unit,
                    node.span,
                    quantity_suggestion(found),
                ));
                None
            }
        }
    }

    /// A positive duration such as `10s` or `1m30s`.
    pub(crate) fn duration(&mut self, node: &Node, key: &str) -> Option<Duration> {
        let parsed = match &node.value {
            Value::Str(text) => parse_duration(text),
            _ => None,
        };
        match parsed {
            Some(duration) if !duration.is_zero() => Some(duration),
            _ => {
                let found = node
                    .scalar_text(self.text)
                    .unwrap_or(node.value.type_name())
                    .to_string();
                self.report(diag::invalid_duration(key, &found, node.span));
                None
            }
        }
    }

    /// A cpu amount in millicores: cores as a number or string, or `"500m"`.
    pub(crate) fn cpu(&mut self, node: &Node) -> Option<u64> {
        let cores_to_millis = |cores: f64| {
            let millis = (cores * 1000.0).round();
            (cores.is_finite() && (1.0..1e12).contains(&millis)).then_some(millis as u64)
        };
        let millis = match &node.value {
            Value::Int(n) => cores_to_millis(*n as f64),
            Value::Float(f) => cores_to_millis(*f),
            Value::Str(text) => match text.strip_suffix('m') {
                Some(millis) => millis.parse::<u64>().ok().filter(|m| *m >= 1),
                None => text.parse::<f64>().ok().and_then(cores_to_millis),
            },
            _ => {
                self.report(diag::wrong_type(
                    "`cpu`",
                    "a number of cores or a millicore string",
                    node.value.type_name(),
                    node.span,
                ));
                return None;
            }
        };
        if millis.is_none() {
            let found = node
                .scalar_text(self.text)
                .unwrap_or_else(|| node.span.slice(self.text));
            self.report(diag::invalid_cpu(found, node.span));
        }
        millis
    }

    /// A command: a string split like a shell would, or a list of words.
    pub(crate) fn command(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        let words = match &node.value {
            Value::Str(text) => match shell_words::split(text) {
                Ok(words) => words,
                Err(error) => {
                    self.report(diag::invalid_command(&error.to_string(), node.span));
                    return None;
                }
            },
            Value::Seq(items) => {
                let mut words = Vec::with_capacity(items.len());
                for item in items {
                    words.push(self.text(item, &format!("each word of {what}"))?);
                }
                words
            }
            _ => {
                self.wrong_type(what, "a string or a list of strings", node);
                return None;
            }
        };
        if words.is_empty() {
            self.report(diag::empty_value(
                what,
                node.span,
                "give the command to run, e.g. `npm start`",
            ));
            return None;
        }
        Some(words)
    }

    /// A build path relative to the Heliosfile's folder, normalized; it may
    /// not be absolute or climb above the repository root.
    pub(crate) fn repo_path(&mut self, node: &Node, key: &str) -> Option<String> {
        let path = self.string(node, &format!("`{key}`"))?;
        let absolute = path.starts_with('/')
            || path.starts_with('\\')
            || path.as_bytes().get(1) == Some(&b':') && path.as_bytes()[0].is_ascii_alphabetic();
        if absolute {
            self.report(diag::path_outside_repo(key, &path, true, node.span));
            return None;
        }
        let mut parts: Vec<&str> = Vec::new();
        let mut climbed = 0usize;
        for part in path.split(['/', '\\']) {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        climbed += 1;
                    }
                }
                _ => parts.push(part),
            }
        }
        if climbed > self.options.folder_depth_in_repo {
            self.report(diag::path_outside_repo(key, &path, false, node.span));
            return None;
        }
        let mut normalized: Vec<&str> = std::iter::repeat_n("..", climbed).collect();
        normalized.extend(parts);
        Some(if normalized.is_empty() {
            ".".to_string()
        } else {
            normalized.join("/")
        })
    }

    /// An explicit image reference; warns when it is not pinned.
    pub(crate) fn image(&mut self, node: &Node, what: &str) -> Option<String> {
        let image = self.string(node, what)?;
        if image.is_empty() || image.chars().any(char::is_whitespace) {
            self.report(diag::wrong_type(
                what,
                "an image reference such as `nginx:1.27`",
                "text with spaces",
                node.span,
            ));
            return None;
        }
        if let Some(bad) = invalid_image_char(&image) {
            self.report(diag::invalid_image_reference(what, &image, bad, node.span));
            return None;
        }
        let last = image.rsplit('/').next().unwrap_or(&image);
        if !last.contains('@') {
            match last.split_once(':') {
                Some((_, "latest")) => {
                    self.report(diag::floating_image_tag(&image, node.span, true))
                }
                None => self.report(diag::floating_image_tag(&image, node.span, false)),
                Some(_) => {}
            }
        }
        Some(image)
    }
}

/// The first character of `image` that no image reference can hold
/// (`[registry[:port]/]path[:tag][@digest]`, an IPv6 registry in `[ ]`,
/// `+` in a digest's algorithm), if any.
pub(crate) fn invalid_image_char(image: &str) -> Option<char> {
    image
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-/:@+[]".contains(*c)))
}

/// Parses a Kubernetes quantity into bytes: a number with an optional
/// binary (`Ki`...`Ei`) or decimal (`k`...`E`) suffix.
pub(crate) fn parse_quantity(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let multiplier: u64 = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        "Ei" => 1 << 60,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        "E" => 1_000_000_000_000_000_000,
        _ => return None,
    };
    if number.is_empty()
        || number.starts_with('.')
        || number.ends_with('.')
        || number.matches('.').count() > 1
    {
        return None;
    }
    if !number.contains('.') {
        return number.parse::<u64>().ok()?.checked_mul(multiplier);
    }
    let value = number.parse::<f64>().ok()? * multiplier as f64;
    // Quantities of bytes are whole: round up like Kubernetes does.
    (value.is_finite() && value < u64::MAX as f64).then(|| value.ceil() as u64)
}

/// The quantity someone writing `512MB` or `1gb` most likely meant.
fn quantity_suggestion(found: &str) -> Option<String> {
    let found = found.trim_matches(['"', '\'']);
    let split = found.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, suffix) = found.split_at(split);
    let unit = match suffix.trim().to_ascii_lowercase().as_str() {
        "kb" | "kib" | "k" => "Ki",
        "mb" | "mib" | "m" => "Mi",
        "gb" | "gib" | "g" => "Gi",
        "tb" | "tib" | "t" => "Ti",
        _ => return None,
    };
    (!number.is_empty()).then(|| format!("{number}{unit}"))
}

/// Parses `500ms`, `5s`, `1m30s`, `2h`: number-unit pairs, largest unit
/// first, each unit at most once.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let letters = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let position = UNITS.iter().position(|(name, _)| *name == unit)?;
        if position < next_unit {
            return None;
        }
        next_unit = position + 1;
        total = total.checked_add(number.checked_mul(UNITS[position].1)?)?;
    }
    Some(Duration::from_millis(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("512Mi"), Some(512 << 20));
        assert_eq!(parse_quantity("1G"), Some(1_000_000_000));
        assert_eq!(parse_quantity("1.5Gi"), Some(3 << 29));
        assert_eq!(parse_quantity("100"), Some(100));
        assert_eq!(parse_quantity("512MB"), None);
        assert_eq!(parse_quantity("Mi"), None);
        assert_eq!(parse_quantity("1..5Mi"), None);
        assert_eq!(parse_quantity("99999999999999Ei"), None);
        assert_eq!(quantity_suggestion("512MB").as_deref(), Some("512Mi"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("30s1m"), None);
        assert_eq!(parse_duration("1x"), None);
        assert_eq!(parse_duration("s"), None);
    }

    #[test]
    fn names_and_domains() {
        assert!(is_dns_label("shop-2", 40));
        assert!(!is_dns_label("Shop", 40));
        assert!(!is_dns_label("2shop", 40));
        assert!(!is_dns_label("shop-", 40));
        assert!(!is_dns_label(&"a".repeat(41), 40));
        assert_eq!(label_suggestion("My_Shop", 40).as_deref(), Some("my-shop"));
        assert!(is_domain("shop.example.com"));
        assert!(is_domain("localhost"));
        assert!(!is_domain("https://shop.example.com"));
        assert!(!is_domain("shop..com"));
        assert!(!is_domain("10.0.0.1"));
        assert!(is_domain("10.0.0.1.nip.io"));
        assert!(is_variable_name("STRIPE_KEY"));
        assert!(!is_variable_name("1KEY"));
    }
}
