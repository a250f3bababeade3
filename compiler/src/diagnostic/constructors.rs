//! One constructor per diagnostic code. The checker never builds a
//! [`Diagnostic`] by hand, so every code's wording lives in one place; each
//! constructor's meaning is documented on its [`Code`].

use super::{Code, Diagnostic};
use crate::span::Span;

fn did_you_mean(suggestion: Option<&str>) -> Option<String> {
    suggestion.map(|s| format!("did you mean `{s}`?"))
}

/// [`Code::H0101`]: the YAML parser stopped.
pub(crate) fn yaml_syntax(span: Span, parser_message: &str) -> Diagnostic {
    Diagnostic::new(
        Code::H0101,
        span,
        format!("invalid YAML: {parser_message}"),
        parser_message,
    )
    .with_help(
        "the file must be a YAML mapping; check quotes, brackets and indentation around here",
    )
}

/// [`Code::H0101`]: a second YAML document (`---`) in the file.
pub(crate) fn yaml_second_document(span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::H0101,
        span,
        "invalid YAML: a Heliosfile is one YAML document, but this `---` starts a second one",
        "second document",
    )
    .with_help(
        "one app per file: remove this `---` and what follows, or move it to its own Heliosfile",
    )
}

/// [`Code::H0102`]: a tab in indentation.
pub(crate) fn tab_indentation(span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::H0102,
        span,
        "tab used for indentation",
        "this is a tab",
    )
    .with_help("YAML indentation must use spaces; replace the tab with spaces")
}

/// [`Code::H0103`]: a key defined twice in one mapping.
pub(crate) fn duplicate_key(key: &str, span: Span, first: Span) -> Diagnostic {
    Diagnostic::new(
        Code::H0103,
        span,
        format!("duplicate key `{key}`"),
        "defined again here",
    )
    .with_secondary(first, "first defined here")
    .with_help("remove one of them; YAML keeps only one value per key")
}

/// [`Code::H0104`]: the input is over the size bound.
pub(crate) fn input_too_large(text: &str, limit: usize) -> Diagnostic {
    let mut at = limit.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    Diagnostic::new(
        Code::H0104,
        Span::empty(at),
        format!(
            "Heliosfile is {} bytes; the limit is {limit} bytes (4 MiB)",
            text.len()
        ),
        "the limit is reached here",
    )
    .with_help(
        "a Heliosfile describes one app and stays small; check that the right file was committed",
    )
}

/// [`Code::H0105`]: alias expansion, nesting or node count over the bound.
pub(crate) fn yaml_resource_limit(span: Span, parser_message: &str) -> Diagnostic {
    // The parser's detail after the first `:` is internal counters.
    let limit = parser_message
        .split(':')
        .next()
        .unwrap_or(parser_message)
        .trim();
    Diagnostic::new(
        Code::H0105,
        span,
        format!("YAML expands beyond the parser's limits ({limit})"),
        "expansion stopped here",
    )
    .with_help("aliases that multiply (a \"billion laughs\") or very deep nesting are refused; write the values out")
}

/// [`Code::H0106`]: nothing in the file.
pub(crate) fn empty_document(span: Span) -> Diagnostic {
    Diagnostic::new(Code::H0106, span, "the Heliosfile is empty", "no content")
        .with_help("a Heliosfile needs at least `name`, `version: 1` and `services`")
}

/// [`Code::H0107`]: the list of diagnostics was cut.
pub(crate) fn too_many_diagnostics(shown: usize, hidden: usize, span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::H0107,
        span,
        format!("{hidden} more problem(s) not shown after the first {shown}"),
        "the next problem is here",
    )
    .with_help("fix the problems shown and check again")
}

/// [`Code::H0108`]: a run of bidirectional control characters in a key
/// (`key`) or a value; `names` are their code points and Unicode names, e.g.
/// `U+202E RIGHT-TO-LEFT OVERRIDE`, and `span` covers exactly the run.
pub(crate) fn bidi_control_character(names: &[String], key: bool, span: Span) -> Diagnostic {
    // Every bidirectional control is 3 bytes of UTF-8.
    let (what, plural) = if span.len() <= 3 {
        ("character", "")
    } else {
        ("characters", "s")
    };
    Diagnostic::new(
        Code::H0108,
        span,
        format!(
            "bidirectional control {what} {} in a {}",
            names.join(" and "),
            if key { "key" } else { "value" }
        ),
        format!("invisible character{plural} reordering how this text is displayed"),
    )
    .with_help(
        "bidirectional controls make an editor or a pull-request diff display this text differently \
         from what Helios reads and runs (Trojan Source, CVE-2021-42574); remove them, or if one is \
         really wanted write it as an escape in a double-quoted string, such as \"\\u202E\"",
    )
}

/// [`Code::H0201`]: a key the language does not have.
pub(crate) fn unknown_key(
    key: &str,
    context: &str,
    span: Span,
    suggestion: Option<&str>,
    known: &[&str],
) -> Diagnostic {
    let help = did_you_mean(suggestion)
        .unwrap_or_else(|| format!("known keys here: {}", known.join(", ")));
    Diagnostic::new(
        Code::H0201,
        span,
        format!("unknown key `{key}` in {context}"),
        "unknown key",
    )
    .with_help(help)
}

/// [`Code::H0202`]: a value of the wrong type.
pub(crate) fn wrong_type(what: &str, expected: &str, found: &str, span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::H0202,
        span,
        format!("{what} must be {expected}, found {found}"),
        format!("expected {expected}"),
    )
}

/// [`Code::H0203`]: a required key is missing from a mapping.
pub(crate) fn missing_key(key: &str, context: &str, span: Span, example: &str) -> Diagnostic {
    Diagnostic::new(
        Code::H0203,
        span,
        format!("missing required key `{key}` in {context}"),
        format!("`{key}` is missing here"),
    )
    .with_help(format!("add `{example}`"))
}

/// [`Code::H0204`]: a language version other than 1.
pub(crate) fn unsupported_version(found: &str, span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::H0204,
        span,
        format!("unsupported Heliosfile version `{found}`"),
        "only version 1 exists",
    )
    .with_help("`version` is the Heliosfile language version, not your app's: write `version: 1`")
}

/// [`Code::H0205`]: a value outside a fixed set.
pub(crate) fn unknown_value(
    what: &str,
    found: &str,
    allowed: &[&str],
    span: Span,
    suggestion: Option<&str>,
) -> Diagnostic {
    let allowed = allowed
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let help = match suggestion {
        Some(s) => format!("did you mean `{s}`? allowed: {allowed}"),
        None => format!("allowed: {allowed}"),
    };
    Diagnostic::new(
        Code::H0205,
        span,
        format!("unknown {what} `{found}`"),
        format!("not a known {what}"),
    )
    .with_help(help)
}

/// [`Code::H0206`]: two exclusive keys are both present.
pub(crate) fn conflicting_keys(
    first: &str,
    second: &str,
    context: &str,
    span: Span,
    first_span: Span,
) -> Diagnostic {
    Diagnostic::new(
        Code::H0206,
        span,
        format!("`{first}` and `{second}` cannot both be set in {context}"),
        format!("`{second}` conflicts with `{first}`"),
    )
    .with_secondary(first_span, format!("`{first}` is set here"))
    .with_help("keep one of the two")
}

/// [`Code::H0207`]: an empty value that must have content.
pub(crate) fn empty_value(what: &str, span: Span, help: &str) -> Diagnostic {
    Diagnostic::new(Code::H0207, span, format!("{what} is empty"), "empty")
        .with_help(help.to_string())
}

/// [`Code::H0301`]: not a DNS-1123 label (or not a valid variable name).
pub(crate) fn invalid_name(
    what: &str,
    name: &str,
    rule: &str,
    span: Span,
    suggestion: Option<String>,
) -> Diagnostic {
    let help = match suggestion {
        Some(s) => format!("{rule}; try `{s}`"),
        None => rule.to_string(),
    };
    Diagnostic::new(
        Code::H0301,
        span,
        format!("invalid {what} `{name}`"),
        "invalid name",
    )
    .with_help(help)
}

/// [`Code::H0302`]: a name used twice.
pub(crate) fn duplicate_name(
    name: &str,
    what: &str,
    span: Span,
    first: Span,
    first_what: &str,
) -> Diagnostic {
    Diagnostic::new(
        Code::H0302,
        span,
        format!("the name `{name}` is used by a {first_what} and a {what}"),
        format!("{what} `{name}`"),
    )
    .with_secondary(first, format!("{first_what} `{name}` defined here"))
    .with_help("services and databases share one namespace (both become hostnames); rename one")
}

/// [`Code::H0302`], for a secret listed twice.
pub(crate) fn duplicate_secret(name: &str, span: Span, first: Span) -> Diagnostic {
    Diagnostic::new(
        Code::H0302,
        span,
        format!("secret `{name}` is listed twice"),
        "listed again here",
    )
    .with_secondary(first, "first listed here")
    .with_help("remove the second entry")
}

/// [`Code::H0401`]: a port outside 1..=65535.
pub(crate) fn port_out_of_range(key: &str, value: &str, span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::H0401,
        span,
        format!("`{key}` {value} is not a valid port"),
        "must be 1..=65535",
    )
    .with_help("ports are 1 to 65535")
}

/// [`Code::H0402`]: a port listed twice in one service.
/// `of_http_port`: the first listing is the service's `http_port`.
pub(crate) fn duplicate_port(port: u16, span: Span, first: Span, of_http_port: bool) -> Diagnostic {
    let (first_label, help) = if of_http_port {
        (
            "the `http_port`",
            "`http_port` is already exposed; `ports` lists the other, internal-only ports",
        )
    } else {
        ("first listed here", "list each port once in `ports`")
    };
    Diagnostic::new(
        Code::H0402,
        span,
        format!("port {port} is listed twice"),
        "listed again here",
    )
    .with_secondary(first, first_label)
    .with_help(help)
}

/// [`Code::H0403`]: a health check on a port the service does not have.
pub(crate) fn healthcheck_port_not_declared(
    port: u16,
    service: &str,
    declared: &[u16],
    span: Span,
) -> Diagnostic {
    let declared_text = if declared.is_empty() {
        "it declares no port".to_string()
    } else {
        format!(
            "its ports are {}",
            declared
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Diagnostic::new(
        Code::H0403,
        span,
        format!("health check port {port} is not a port of service `{service}`"),
        "not among the service's ports",
    )
    .with_help(format!(
        "{declared_text}; probe one of them or add {port} to `ports`"
    ))
}

/// [`Code::H0404`]: an HTTP health check with nothing to probe.
pub(crate) fn healthcheck_port_missing(service: &str, span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::H0404,
        span,
        format!("HTTP health check of service `{service}` has no port"),
        "which port?",
    )
    .with_help("set `healthcheck.port`, or give the service an `http_port` (the default)")
}

/// [`Code::H0405`]: `domains` on a service without `http_port`.
pub(crate) fn domains_without_http_port(service: &str, span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::H0405,
        span,
        format!("service `{service}` has `domains` but no `http_port`"),
        "nothing to route these domains to",
    )
    .with_help("add `http_port:` with the port the service serves HTTP on")
}

/// [`Code::H0406`]: not a valid DNS name.
pub(crate) fn invalid_domain(domain: &str, span: Span) -> Diagnostic {
    Diagnostic::new(Code::H0406, span, format!("`{domain}` is not a valid domain name"), "invalid domain")
        .with_help("write a bare host name such as `shop.example.com`: letters, digits, `-` and dots; no scheme, port or path")
}

/// [`Code::H0407`]: one domain routed to two services, or listed twice by
/// one. `first_is_default_host`: the first place is `first_service`'s name,
/// whose default host `<svc>.<app>.<domain>` the domain repeats.
pub(crate) fn duplicate_domain(
    domain: &str,
    service: &str,
    span: Span,
    first_service: &str,
    first: Span,
    first_is_default_host: bool,
) -> Diagnostic {
    let first_label = if first_is_default_host {
        format!("the default host of `{first_service}`")
    } else if first_service == service {
        "first listed here".to_string()
    } else {
        format!("routed to `{first_service}` here")
    };
    let (message, label, help) = if first_service == service {
        let message = if first_is_default_host {
            format!("domain `{domain}` is already the default host of service `{service}`")
        } else {
            format!("domain `{domain}` is listed twice for service `{service}`")
        };
        (
            message,
            "listed again here".to_string(),
            "remove this entry from `domains`",
        )
    } else {
        (
            format!("domain `{domain}` is routed to both `{first_service}` and `{service}`"),
            format!("routed to `{service}` here"),
            "a host can be routed to one service only",
        )
    };
    Diagnostic::new(Code::H0407, span, message, label)
        .with_secondary(first, first_label)
        .with_help(help)
}

/// [`Code::H0501`]: a size that is not a number or a Kubernetes quantity.
pub(crate) fn invalid_size(
    key: &str,
    found: &str,
    bare_unit: &str,
    span: Span,
    suggestion: Option<String>,
) -> Diagnostic {
    let mut help = format!(
        "a bare number means {bare_unit}; a string is a quantity with one of the suffixes Ki, Mi, Gi, Ti (binary) or k, M, G, T (decimal)"
    );
    if let Some(s) = suggestion {
        help = format!("did you mean `{s}`? {help}");
    }
    Diagnostic::new(
        Code::H0501,
        span,
        format!("invalid {key} `{found}`"),
        "not a size",
    )
    .with_help(help)
}

/// [`Code::H0502`]: a duration that cannot be read.
pub(crate) fn invalid_duration(key: &str, found: &str, span: Span) -> Diagnostic {
    Diagnostic::new(Code::H0502, span, format!("invalid duration `{found}` for `{key}`"), "not a duration")
        .with_help("write a number with a unit, largest first: `500ms`, `5s`, `1m30s`, `2h`; it must be more than zero")
}

/// [`Code::H0503`]: a cpu value that is not a positive amount.
pub(crate) fn invalid_cpu(found: &str, span: Span) -> Diagnostic {
    Diagnostic::new(Code::H0503, span, format!("invalid cpu `{found}`"), "not a positive number of cores")
        .with_help("write cores as a number (`0.5`, `2`) or millicores as a string (`\"500m\"`); at least 1 millicore")
}

/// [`Code::H0504`]: a number outside its key's range.
pub(crate) fn value_out_of_range(key: &str, found: &str, range: &str, span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::H0504,
        span,
        format!("`{key}` {found} is out of range"),
        format!("must be {range}"),
    )
    .with_help(format!("`{key}` must be {range}"))
}

/// [`Code::H0505`]: a command string that cannot be split into words.
pub(crate) fn invalid_command(reason: &str, span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::H0505,
        span,
        format!("command cannot be split into words: {reason}"),
        "cannot split",
    )
    .with_help("close the quote, or write the command as a list: `[\"npm\", \"start\"]`")
}

/// [`Code::H0601`]: a build path that is absolute or leaves the repo.
pub(crate) fn path_outside_repo(key: &str, path: &str, absolute: bool, span: Span) -> Diagnostic {
    let (message, label) = if absolute {
        (
            format!("`{key}` path `{path}` is absolute"),
            "absolute path",
        )
    } else {
        (
            format!("`{key}` path `{path}` climbs out of the repository"),
            "leaves the repository",
        )
    };
    Diagnostic::new(Code::H0601, span, message, label).with_help(
        "paths are relative to the Heliosfile's folder and must stay inside the repository",
    )
}

/// [`Code::H0602`]: an explicit image without a pinned tag.
pub(crate) fn floating_image_tag(image: &str, span: Span, latest: bool) -> Diagnostic {
    let label = if latest {
        "the tag `latest` moves"
    } else {
        "no tag means `latest`"
    };
    Diagnostic::new(
        Code::H0602,
        span,
        format!("image `{image}` is not pinned to a version"),
        label,
    )
    .with_help(
        "pin a version tag or a digest so that every deploy of this commit runs the same image",
    )
}

/// [`Code::H0701`]: a reference to something that does not exist.
pub(crate) fn unknown_reference(root: &str, span: Span, suggestion: Option<&str>) -> Diagnostic {
    let help = did_you_mean(suggestion).unwrap_or_else(|| {
        "a reference starts with a service, a database, `secret` or `app`".to_string()
    });
    Diagnostic::new(
        Code::H0701,
        span,
        format!("unknown reference `{root}`"),
        "no service, database or root with this name",
    )
    .with_help(help)
}

/// [`Code::H0702`]: a reference to a field the target lacks.
pub(crate) fn unknown_reference_field(
    target: &str,
    field: &str,
    fields: &[&str],
    span: Span,
    suggestion: Option<&str>,
) -> Diagnostic {
    let known = fields.join(", ");
    let help = match suggestion {
        Some(s) => format!("did you mean `{s}`? {target} has: {known}"),
        None => format!("{target} has: {known}"),
    };
    Diagnostic::new(
        Code::H0702,
        span,
        format!("{target} has no field `{field}`"),
        "unknown field",
    )
    .with_help(help)
}

/// [`Code::H0702`], for `PORT`/`URL` of a service that has no port.
pub(crate) fn reference_to_portless_service(service: &str, field: &str, span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::H0702,
        span,
        format!("service `{service}` has no port, so it has no `{field}`"),
        "no port to refer to",
    )
    .with_help(format!(
        "give `{service}` an `http_port` or `ports`, or refer to `{service}.HOST`"
    ))
}

/// [`Code::H0703`]: `${secret.X}` with X not under `secrets:`.
pub(crate) fn undeclared_secret(name: &str, span: Span, suggestion: Option<&str>) -> Diagnostic {
    let help = match suggestion {
        Some(s) => format!("did you mean `{s}`? otherwise add `{name}` to `secrets:`"),
        None => format!("add `{name}` to the top-level `secrets:` list"),
    };
    Diagnostic::new(
        Code::H0703,
        span,
        format!("secret `{name}` is not declared"),
        "not listed under `secrets:`",
    )
    .with_help(help)
}

/// [`Code::H0704`]: a `${` that is not a well-formed reference.
pub(crate) fn malformed_reference(reason: &str, span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::H0704,
        span,
        format!("malformed reference: {reason}"),
        "here",
    )
    .with_help("references look like `${postgres.URL}`; write `$${` for a literal `${`")
}

/// [`Code::H0705`]: a declared secret nothing uses.
pub(crate) fn unused_secret(name: &str, span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::H0705,
        span,
        format!("secret `{name}` is never used"),
        "declared but unused",
    )
    .with_help(format!(
        "use it as `${{secret.{name}}}` or remove it from `secrets:`"
    ))
}

/// [`Code::H0801`]: a dependency cycle.
pub(crate) fn dependency_cycle(
    cycle: &[String],
    span: Span,
    others: &[(Span, String)],
) -> Diagnostic {
    // A cycle through thousands of services would print thousands of
    // labels; the first few show the shape, the message names them all.
    const MAX_CYCLE_LABELS: usize = 8;
    let mut diagnostic = Diagnostic::new(
        Code::H0801,
        span,
        format!("dependency cycle: {}", cycle.join(" → ")),
        "this dependency closes the cycle",
    )
    .with_help("services start in dependency order; remove one dependency of the cycle");
    for (other, label) in others.iter().take(MAX_CYCLE_LABELS) {
        diagnostic = diagnostic.with_secondary(*other, label.clone());
    }
    diagnostic
}

/// [`Code::H0802`]: `depends_on` names nothing known (or the service itself).
pub(crate) fn unknown_dependency(
    name: &str,
    service: &str,
    span: Span,
    suggestion: Option<&str>,
) -> Diagnostic {
    if name == service {
        return Diagnostic::new(
            Code::H0802,
            span,
            format!("service `{service}` depends on itself"),
            "itself",
        )
        .with_help("remove this entry");
    }
    Diagnostic::new(
        Code::H0802,
        span,
        format!("service `{service}` depends on unknown `{name}`"),
        "no service or database with this name",
    )
    .with_optional_help(did_you_mean(suggestion))
}

/// [`Code::H0603`]: a service with no image to run.
pub(crate) fn missing_image(service: &str, span: Span, has_repository: bool) -> Diagnostic {
    let help = if has_repository {
        format!(
            "pass `--tag TAG` to run the image built from this repo, give `{service}` an `image:`, or pass `--image {service}=REF`"
        )
    } else {
        format!(
            "give `{service}` an `image:`, or set the top-level `image:` repository and pass `--tag TAG`, or pass `--image {service}=REF`"
        )
    };
    Diagnostic::new(
        Code::H0603,
        span,
        format!("service `{service}` has no image"),
        "no image for this service",
    )
    .with_help(help)
}

/// [`Code::H0604`]: a name over a Kubernetes limit.
pub(crate) fn kubernetes_name_too_long(
    name: &str,
    what: &str,
    max: usize,
    why: &str,
    span: Span,
) -> Diagnostic {
    Diagnostic::new(
        Code::H0604,
        span,
        format!(
            "{what} `{name}` is too long for Kubernetes ({} characters; at most {max})",
            name.len()
        ),
        "too long for Kubernetes",
    )
    .with_help(format!("{why}; shorten it"))
}

/// [`Code::H0605`]: a character no image reference can hold.
pub(crate) fn invalid_image_reference(
    what: &str,
    image: &str,
    bad: char,
    span: Span,
) -> Diagnostic {
    let shown = if bad.is_control() {
        format!("U+{:04X}", u32::from(bad))
    } else {
        format!("`{bad}`")
    };
    let mut help = "an image reference is `[registry[:port]/]path[:tag][@digest]`: letters, digits and `. _ - / : @`".to_string();
    if bad == '$' {
        help.push_str("; Compose would read `$` as the start of a variable, so a tag that changes per build goes through `heliosc build --tag`");
    }
    Diagnostic::new(
        Code::H0605,
        span,
        format!("{what} `{image}` is not an image reference: it holds {shown}"),
        "not an image reference",
    )
    .with_help(help)
}
