//! The catalogue of diagnostic codes. Each code's doc comment is its long
//! explanation: rustdoc shows it, and `heliosc explain CODE` prints the same
//! text, so the two can never drift apart.

use serde::Serialize;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The input is usable but probably not what the author wants.
    Warning,
    /// The input cannot be compiled.
    Error,
}

impl Severity {
    /// `"error"` or `"warning"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

macro_rules! define_codes {
    ($(
        $(#[doc = $doc:literal])*
        $code:ident => $slug:literal, $severity:ident;
    )*) => {
        /// A stable diagnostic code. Codes never change meaning once shipped;
        /// the hundreds group them by stage (H01xx YAML, H02xx document shape,
        /// H03xx names, H04xx ports and routing, H05xx values and units, H06xx
        /// build and images, H07xx references, H08xx dependencies).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $( $(#[doc = $doc])* $code, )*
        }

        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[$(Code::$code),*];

            /// The code as printed, e.g. `"H0201"`.
            pub const fn as_str(self) -> &'static str {
                match self { $(Code::$code => stringify!($code),)* }
            }

            /// A short kebab-case name, e.g. `"unknown-key"`.
            pub const fn slug(self) -> &'static str {
                match self { $(Code::$code => $slug,)* }
            }

            /// The severity every diagnostic with this code has.
            pub const fn severity(self) -> Severity {
                match self { $(Code::$code => Severity::$severity,)* }
            }

            fn raw_doc(self) -> &'static str {
                match self { $(Code::$code => concat!($($doc, "\n"),*),)* }
            }
        }
    };
}

impl Code {
    /// Looks a code up by its printed form, case-insensitively (`h0201` works).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|code| {
            code.as_str().eq_ignore_ascii_case(text.trim()) || code.slug() == text.trim()
        })
    }

    /// The long explanation: what the code means, why it is a problem, and an
    /// example. This is what `heliosc explain` prints.
    pub fn explanation(self) -> String {
        let mut out = format!(
            "{} ({}, {})\n\n",
            self.as_str(),
            self.slug(),
            self.severity().as_str()
        );
        for line in self.raw_doc().lines() {
            out.push_str(line.strip_prefix(' ').unwrap_or(line));
            out.push('\n');
        }
        out
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

define_codes! {
    /// The file is not valid YAML.
    ///
    /// The YAML parser stopped at the marked position. Nothing after it can be
    /// read, so this is the only diagnostic for the file.
    ///
    /// Example:
    ///
    /// ```yaml
    /// services: [web
    /// ```
    ///
    /// Fix: close the flow sequence (`[web]`) or use block style.
    H0101 => "yaml-syntax", Error;

    /// A tab is used for indentation.
    ///
    /// YAML forbids tabs in indentation: their width is ambiguous. Editors
    /// often insert them silently, so Helios names the problem directly
    /// instead of reporting a generic syntax error.
    ///
    /// Example (`→` is a tab):
    ///
    /// ```yaml
    /// services:
    /// →web: {}
    /// ```
    ///
    /// Fix: indent with spaces.
    H0102 => "tab-indentation", Error;

    /// The same key appears twice in one mapping.
    ///
    /// Most YAML tools silently keep the last value, so one of the two is
    /// lost without a word. Helios rejects the file and shows both places.
    ///
    /// Example:
    ///
    /// ```yaml
    /// services:
    ///   web: { image: nginx:1.27 }
    ///   web: { image: caddy:2 }
    /// ```
    ///
    /// Fix: remove or rename one of the two.
    H0103 => "duplicate-key", Error;

    /// The file is larger than the 4 MiB a Heliosfile may be.
    ///
    /// A Heliosfile describes one app; even a very large one fits in a few
    /// hundred kilobytes. The bound keeps the compiler and the reconciler
    /// safe from a runaway or hostile file.
    ///
    /// Fix: split the app, or check that the right file was committed.
    H0104 => "input-too-large", Error;

    /// The YAML expands beyond the parser's resource limits.
    ///
    /// Anchors and aliases are allowed, but their expansion is bounded: a
    /// "billion laughs" document, whose aliases multiply into billions of
    /// nodes, or a document nested thousands of levels deep, is rejected
    /// quickly instead of exhausting memory.
    ///
    /// Example:
    ///
    /// ```yaml
    /// a: &a [x, x, x, x, x, x, x, x, x]
    /// b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    /// c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    /// # ... and so on
    /// ```
    ///
    /// Fix: write the values out, or use fewer levels of aliases.
    H0105 => "yaml-resource-limit", Error;

    /// The file has no content.
    ///
    /// An empty file (or one with only comments) is almost always a mistake:
    /// an app needs at least `name`, `version` and `services`.
    ///
    /// Minimal example:
    ///
    /// ```yaml
    /// name: hello
    /// version: 1
    /// services:
    ///   web: { image: nginx:1.27, http_port: 80 }
    /// ```
    H0106 => "empty-document", Error;

    /// The file has more problems than are shown.
    ///
    /// After 500 diagnostics `heliosc` stops listing them: a file with that
    /// many problems is usually not a Heliosfile at all, or has one mistake
    /// repeated (a wrong indentation, a search-and-replace gone wrong), and
    /// printing thousands of reports would only bury the first ones. Fix the
    /// problems shown and check again.
    H0107 => "too-many-diagnostics", Error;

    /// A key or value contains a Unicode bidirectional control character.
    ///
    /// The embeddings and overrides U+202A to U+202E and the isolates U+2066
    /// to U+2069 are invisible, and they change the order in which the text
    /// around them is displayed. An editor, a terminal or a pull-request diff
    /// then shows something other than what Helios reads and what runs: a
    /// reviewer can approve an `env` value, a command or an image that is not
    /// the one deployed. This is the "Trojan Source" attack
    /// (CVE-2021-42574). It is a warning, not an error, because right-to-left
    /// text can legitimately need them; each run of them is marked at its
    /// exact bytes.
    ///
    /// Example (`⟨RLO⟩` stands for an invisible U+202E):
    ///
    /// ```yaml
    /// env:
    ///   GREETING: "hello ⟨RLO⟩dlrow"   # displays as `hello world`
    /// ```
    ///
    /// Fix: remove the characters. If one is really wanted, write it as an
    /// escape in a double-quoted string (`"\u202E"`), which every reader
    /// sees.
    H0108 => "bidi-control-character", Warning;

    /// A key that the Heliosfile language does not have.
    ///
    /// Unknown keys are errors, never ignored: a misspelled `memroy:` would
    /// otherwise silently leave the service without a memory limit. When a
    /// known key is close, the help names it.
    ///
    /// Example:
    ///
    /// ```yaml
    /// services:
    ///   web:
    ///     replica: 2     # did you mean `replicas`?
    /// ```
    H0201 => "unknown-key", Error;

    /// A value has the wrong type: a list where a mapping is expected, text
    /// where a number is expected, and so on.
    ///
    /// Example:
    ///
    /// ```yaml
    /// services:
    ///   web:
    ///     replicas: two    # expected an integer
    /// ```
    H0202 => "wrong-type", Error;

    /// A required key is missing.
    ///
    /// Every Heliosfile needs `name`, `version` and `services`; every
    /// database needs `type`.
    ///
    /// Example:
    ///
    /// ```yaml
    /// version: 1
    /// services: { web: { image: nginx:1.27 } }
    /// # missing: name
    /// ```
    H0203 => "missing-key", Error;

    /// The `version:` is not one this compiler understands.
    ///
    /// `version` is the language version of the Heliosfile, not the app's
    /// version. Only `1` exists.
    ///
    /// Example:
    ///
    /// ```yaml
    /// version: 2   # only 1 exists
    /// ```
    H0204 => "unsupported-version", Error;

    /// A value that must be one of a fixed set is not.
    ///
    /// Applies to `target` (`compose`, `kubernetes`), `strategy` (`rolling`,
    /// `recreate`) and a database's `type` (`postgresql`, `mysql`, `redis`,
    /// `mongodb`). The help suggests the closest allowed value.
    ///
    /// Example:
    ///
    /// ```yaml
    /// databases:
    ///   db: { type: postgres }   # did you mean `postgresql`?
    /// ```
    H0205 => "unknown-value", Error;

    /// Two keys that exclude each other are both set.
    ///
    /// `build.builder` (buildpacks) and `build.dockerfile` choose two
    /// different ways to build; a healthcheck is exactly one of `path`
    /// (HTTP), `command` or `tcp`.
    ///
    /// Example:
    ///
    /// ```yaml
    /// build:
    ///   builder: paketo-buildpacks/builder:base
    ///   dockerfile: ./Dockerfile
    /// ```
    H0206 => "conflicting-keys", Error;

    /// A value that must not be empty is empty.
    ///
    /// An app needs at least one service; a command needs at least one word;
    /// a healthcheck needs one of `path`, `command` or `tcp`.
    ///
    /// Example:
    ///
    /// ```yaml
    /// services: {}
    /// ```
    H0207 => "empty-value", Error;

    /// A name is not a valid DNS-1123 label.
    ///
    /// App, service and database names become hostnames, container names and
    /// Kubernetes object names, so they must be lowercase letters, digits
    /// and `-`, start with a letter, end with a letter or digit, and be at
    /// most 63 characters (40 for the app name, which prefixes others).
    ///
    /// Example:
    ///
    /// ```yaml
    /// name: My_Shop    # try `my-shop`
    /// ```
    H0301 => "invalid-name", Error;

    /// Two things share one name.
    ///
    /// Services and databases share one namespace, because both become
    /// hostnames on the app's network. Secret names must also be unique.
    ///
    /// Example:
    ///
    /// ```yaml
    /// services:
    ///   cache: { image: varnish:7.5 }
    /// databases:
    ///   cache: { type: redis }
    /// ```
    H0302 => "duplicate-name", Error;

    /// A port is outside 1..=65535.
    ///
    /// Example:
    ///
    /// ```yaml
    /// services:
    ///   web: { http_port: 70000 }
    /// ```
    H0401 => "port-out-of-range", Error;

    /// A service lists the same port twice (in `ports`, or in `ports` and
    /// as `http_port`).
    ///
    /// Example:
    ///
    /// ```yaml
    /// services:
    ///   web: { http_port: 8080, ports: [8080] }
    /// ```
    H0402 => "duplicate-port", Error;

    /// `healthcheck.port` (or `healthcheck.tcp`) is not one of the
    /// service's ports.
    ///
    /// A probe on a port the service does not declare cannot be routed on
    /// Kubernetes, and usually means a typo.
    ///
    /// Example:
    ///
    /// ```yaml
    /// services:
    ///   web:
    ///     http_port: 3000
    ///     healthcheck: { path: /healthz, port: 3001 }
    /// ```
    H0403 => "healthcheck-port-not-declared", Error;

    /// An HTTP healthcheck has no port to probe.
    ///
    /// `healthcheck.path` probes `healthcheck.port`, which defaults to the
    /// service's `http_port`. With neither there is nothing to probe.
    ///
    /// Example:
    ///
    /// ```yaml
    /// services:
    ///   worker:
    ///     ports: [9000]
    ///     healthcheck: { path: /healthz }   # add `port: 9000`
    /// ```
    H0404 => "healthcheck-port-missing", Error;

    /// `domains` is set on a service that has no `http_port`.
    ///
    /// Domains route public HTTP traffic to the service's `http_port`;
    /// without one, there is nothing to route to.
    ///
    /// Example:
    ///
    /// ```yaml
    /// services:
    ///   web:
    ///     ports: [8080]
    ///     domains: [shop.example.com]   # add `http_port: 8080`
    /// ```
    H0405 => "domains-without-http-port", Error;

    /// A domain (top-level `domain` or an entry of `domains`) is not a valid
    /// DNS name: labels of letters, digits and `-`, separated by dots, at
    /// most 253 characters. No scheme, port or path.
    ///
    /// Example:
    ///
    /// ```yaml
    /// domains: [https://shop.example.com/]   # write `shop.example.com`
    /// ```
    H0406 => "invalid-domain", Error;

    /// The same domain is routed to two services (or listed twice).
    ///
    /// The router could only send the host's traffic to one of them.
    ///
    /// Example:
    ///
    /// ```yaml
    /// services:
    ///   web: { http_port: 80, domains: [shop.example.com] }
    ///   api: { http_port: 80, domains: [shop.example.com] }
    /// ```
    H0407 => "duplicate-domain", Error;

    /// A memory or storage size is not understood.
    ///
    /// A bare number is MiB for `memory` and GiB for `storage`. A string is a
    /// Kubernetes quantity: a number with one of the suffixes `Ki Mi Gi Ti`
    /// (binary) or `k M G T` (decimal). `MB` or `gb` are not quantities.
    ///
    /// Example:
    ///
    /// ```yaml
    /// memory: 512MB   # write `512Mi` or `512M`
    /// ```
    H0501 => "invalid-size", Error;

    /// A duration is not understood.
    ///
    /// Durations are a sequence of number-unit pairs with units `h`, `m`,
    /// `s` and `ms`, largest first: `5s`, `1m30s`, `2h`. They must be
    /// greater than zero.
    ///
    /// Example:
    ///
    /// ```yaml
    /// healthcheck: { path: /, interval: 10 }   # write `10s`
    /// ```
    H0502 => "invalid-duration", Error;

    /// A `cpu` value is not a positive number of cores.
    ///
    /// `cpu` is a number of cores (`0.5`, `2`) or a millicore quantity
    /// (`"500m"`). It must be greater than zero and at least one millicore.
    ///
    /// Example:
    ///
    /// ```yaml
    /// cpu: 0   # a container with no CPU cannot run
    /// ```
    H0503 => "invalid-cpu", Error;

    /// A number is outside the range its key allows.
    ///
    /// `replicas` is 0 or more, `healthcheck.retries` 1 or more, both at most
    /// 10,000 and 1,000.
    ///
    /// Example:
    ///
    /// ```yaml
    /// replicas: -1
    /// ```
    H0504 => "value-out-of-range", Error;

    /// A command string cannot be split into words.
    ///
    /// A string `command` is split like a POSIX shell would (quotes group
    /// words), but it is never run by a shell. An unclosed quote cannot be
    /// split.
    ///
    /// Example:
    ///
    /// ```yaml
    /// command: "npm run 'start"
    /// ```
    H0505 => "invalid-command", Error;

    /// A build path is absolute or climbs out of the repository.
    ///
    /// `build.context` and `build.dockerfile` are relative to the
    /// Heliosfile's folder, and may not reach outside the repo: the build
    /// must not depend on files that git does not track.
    ///
    /// Example:
    ///
    /// ```yaml
    /// build:
    ///   dockerfile: ../../Dockerfile   # climbs out of the repo
    /// ```
    H0601 => "path-outside-repo", Error;

    /// An explicit image has the tag `latest` or no tag.
    ///
    /// Such an image changes under your feet: two deploys of the same commit
    /// can run different code, and rollbacks do not roll back. Pin a version
    /// or a digest.
    ///
    /// Example:
    ///
    /// ```yaml
    /// image: nginx          # warning: pin e.g. `nginx:1.27`
    /// ```
    H0602 => "floating-image-tag", Warning;

    /// A service has no image to run.
    ///
    /// A service runs its own `image:`, an image given at build time
    /// (`heliosc build --image web=REF`), or the image built from this repo:
    /// the top-level `image:` repository with the tag given by `--tag`.
    /// Neither Compose nor Kubernetes can run a service without one.
    ///
    /// Example:
    ///
    /// ```yaml
    /// name: shop
    /// version: 1
    /// services:
    ///   worker: { command: ["npm", "run", "worker"] }
    /// # fix: `image: registry.example.com/shop` at the top level and
    /// # `heliosc build --tag 1.4.2`, or `image:` on the service
    /// ```
    H0603 => "missing-image", Error;

    /// A name or host is too long for Kubernetes.
    ///
    /// Kubernetes has limits that Compose does not, and that the
    /// Heliosfile's own rules do not already imply: a StatefulSet name (a
    /// database) is at most 52 characters, because its pods carry a label
    /// `controller-revision-hash: <name>-<hash>` and label values are at most
    /// 63 characters; an Ingress host (`<service>.<app>.<domain>`) is at most
    /// 253 characters with labels of at most 63; a user secret's name, a key
    /// of the `<app>-secrets` Secret, is at most 253 characters.
    ///
    /// Example:
    ///
    /// ```yaml
    /// databases:
    ///   the-primary-postgresql-database-of-the-order-service-eu: { type: postgresql }
    /// ```
    ///
    /// Fix: shorten the name (or the `domain`).
    H0604 => "kubernetes-name-too-long", Error;

    /// An image reference holds a character no image reference can hold.
    ///
    /// An image reference is `[registry[:port]/]path[:tag][@digest]`:
    /// letters, digits and `. _ - / : @` (and `[ ]` around an IPv6
    /// registry, `+` in a digest's algorithm). Anything else is a typo, or
    /// text that Compose would read as something else: a `$` starts a
    /// variable there, so `r$x:1` would silently run another image.
    ///
    /// Example:
    ///
    /// ```yaml
    /// services:
    ///   web: { image: "registry.example.com/shop:$TAG" }
    /// ```
    ///
    /// Fix: write the reference itself; a tag that changes per build is
    /// `heliosc build --tag` (with `image:` at the top level).
    H0605 => "invalid-image-reference", Error;

    /// A `${...}` reference names something that does not exist.
    ///
    /// The part before the dot must be a service, a database, `secret` or
    /// `app`. The help suggests the closest name.
    ///
    /// Example:
    ///
    /// ```yaml
    /// env:
    ///   DATABASE_URL: ${postgress.URL}   # did you mean `postgres`?
    /// ```
    H0701 => "unknown-reference", Error;

    /// A `${...}` reference asks for a field that its target does not have.
    ///
    /// Databases have `HOST PORT USER NAME PASSWORD URL`; services have
    /// `HOST PORT URL`; `app` has `name`.
    ///
    /// Example:
    ///
    /// ```yaml
    /// env:
    ///   DATABASE_URL: ${postgres.URI}   # did you mean `URL`?
    /// ```
    H0702 => "unknown-reference-field", Error;

    /// `${secret.NAME}` names a secret that is not listed under `secrets:`.
    ///
    /// Listing secrets makes the set of values that must be provided outside
    /// git explicit, so the reconciler can tell what is missing.
    ///
    /// Example:
    ///
    /// ```yaml
    /// env: { STRIPE_KEY: "${secret.STRIPE_KEY}" }
    /// # add: secrets: [STRIPE_KEY]
    /// ```
    H0703 => "undeclared-secret", Error;

    /// A `${` is not a well-formed reference.
    ///
    /// References have the form `${root.field}`. Write `$${` for a literal
    /// `${`.
    ///
    /// Example:
    ///
    /// ```yaml
    /// env: { URL: "${postgres.URL" }   # missing `}`
    /// ```
    H0704 => "malformed-reference", Error;

    /// A secret is listed under `secrets:` but no `${secret.NAME}` uses it.
    ///
    /// It is harmless, but the reconciler would still require it to be
    /// provided.
    H0705 => "unused-secret", Warning;

    /// `depends_on` and references form a cycle.
    ///
    /// Services start in dependency order; a cycle has no order. References
    /// count as dependencies: `${api.URL}` in `web` makes `web` depend on
    /// `api`.
    ///
    /// Example:
    ///
    /// ```yaml
    /// services:
    ///   web: { depends_on: [api] }
    ///   api: { depends_on: [web] }
    /// ```
    H0801 => "dependency-cycle", Error;

    /// `depends_on` names a service or database that does not exist, or the
    /// service itself.
    ///
    /// Example:
    ///
    /// ```yaml
    /// services:
    ///   web: { depends_on: [postgress] }   # did you mean `postgres`?
    /// ```
    H0802 => "unknown-dependency", Error;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_parse_back() {
        let mut previous: Option<&str> = None;
        for code in Code::ALL {
            let text = code.as_str();
            assert!(text.len() == 5 && text.starts_with('H'), "{text}");
            if let Some(previous) = previous {
                assert!(previous < text, "{previous} before {text}");
            }
            previous = Some(text);
            assert_eq!(Code::parse(text), Some(*code));
            assert_eq!(Code::parse(&text.to_lowercase()), Some(*code));
            assert_eq!(Code::parse(code.slug()), Some(*code));
        }
    }

    #[test]
    fn every_code_has_an_explanation_with_substance() {
        for code in Code::ALL {
            let text = code.explanation();
            assert!(text.starts_with(code.as_str()));
            assert!(text.lines().count() >= 3, "{code} is barely explained");
        }
    }
}
