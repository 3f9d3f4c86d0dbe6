//! The resource (who produces the telemetry) and instrumentation scopes.

use crate::attributes::{AttributeSet, KeyValue, Str, Value};
use std::borrow::Cow;

/// Attributes describing the entity producing telemetry.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    attrs: AttributeSet,
    schema_url: Option<String>,
}

impl Resource {
    /// A resource with exactly these attributes (no defaults, no environment).
    pub fn new(attrs: impl IntoIterator<Item = KeyValue>) -> Self {
        Resource {
            attrs: AttributeSet::from_key_values(attrs.into_iter().collect()),
            schema_url: None,
        }
    }

    /// The empty resource.
    pub fn empty() -> Self {
        Resource::new([])
    }

    /// Starts from the SDK defaults and the environment.
    pub fn builder() -> ResourceBuilder {
        ResourceBuilder {
            attrs: Vec::new(),
            schema_url: None,
        }
    }

    /// The attributes, sorted by key.
    pub fn attributes(&self) -> &AttributeSet {
        &self.attrs
    }

    /// The schema URL, if any.
    pub fn schema_url(&self) -> Option<&str> {
        self.schema_url.as_deref()
    }

    /// Looks an attribute up.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.attrs.get(key)
    }
}

impl Default for Resource {
    /// SDK defaults merged with `OTEL_RESOURCE_ATTRIBUTES` and
    /// `OTEL_SERVICE_NAME`.
    fn default() -> Self {
        Resource::builder().build()
    }
}

/// Builds a [`Resource`]. Precedence, lowest first: SDK defaults
/// (`service.name=unknown_service:<process>`, `telemetry.sdk.*`),
/// `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`, then attributes given here.
#[derive(Debug)]
pub struct ResourceBuilder {
    attrs: Vec<KeyValue>,
    schema_url: Option<String>,
}

impl ResourceBuilder {
    /// Sets `service.name`.
    pub fn with_service_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.attrs.push(KeyValue::new(
            "service.name",
            Value::Str(Str::from(name.into())),
        ));
        self
    }

    /// Adds one attribute.
    pub fn with_attribute(mut self, kv: KeyValue) -> Self {
        self.attrs.push(kv);
        self
    }

    /// Adds attributes.
    pub fn with_attributes(mut self, kvs: impl IntoIterator<Item = KeyValue>) -> Self {
        self.attrs.extend(kvs);
        self
    }

    /// Sets the schema URL.
    pub fn with_schema_url(mut self, url: impl Into<String>) -> Self {
        self.schema_url = Some(url.into());
        self
    }

    /// Builds the resource, reading the environment now.
    pub fn build(self) -> Resource {
        self.build_with_env(|k| std::env::var(k).ok())
    }

    pub(crate) fn build_with_env(self, env: impl Fn(&str) -> Option<String>) -> Resource {
        let mut all = vec![
            KeyValue::new(
                "service.name",
                format!("unknown_service:{}", process_name()),
            ),
            KeyValue::new("telemetry.sdk.language", "rust"),
            KeyValue::new("telemetry.sdk.name", "ferrometer"),
            KeyValue::new("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
        ];
        if let Some(s) = env("OTEL_RESOURCE_ATTRIBUTES") {
            all.extend(parse_resource_attributes(&s));
        }
        if let Some(s) = env("OTEL_SERVICE_NAME") {
            if !s.trim().is_empty() {
                all.push(KeyValue::new("service.name", s.trim().to_owned()));
            }
        }
        all.extend(self.attrs);
        Resource {
            attrs: AttributeSet::from_key_values(all),
            schema_url: self.schema_url,
        }
    }
}

fn process_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".into())
}

/// Parses `key1=value1,key2=value2` (values percent-decoded). Malformed
/// entries are skipped with a warning, as the specification asks.
pub(crate) fn parse_resource_attributes(s: &str) -> Vec<KeyValue> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        match part.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => match percent_decode(v.trim()) {
                Some(v) => out.push(KeyValue::new(k.trim().to_owned(), v)),
                None => crate::diagnostics::diag_warn!(
                    "OTEL_RESOURCE_ATTRIBUTES: bad percent-encoding in {part:?}, ignored"
                ),
            },
            _ => crate::diagnostics::diag_warn!(
                "OTEL_RESOURCE_ATTRIBUTES: malformed entry {part:?}, ignored"
            ),
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The instrumentation scope of a meter: library name, version, schema URL
/// and attributes. Two meters with equal scopes are the same meter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InstrumentationScope {
    name: String,
    version: Option<String>,
    schema_url: Option<String>,
    attributes: AttributeSet,
}

impl InstrumentationScope {
    /// A scope with only a name.
    pub fn new(name: impl Into<String>) -> Self {
        InstrumentationScope {
            name: name.into(),
            version: None,
            schema_url: None,
            attributes: AttributeSet::empty(),
        }
    }
    /// Sets the version.
    pub fn with_version(mut self, v: impl Into<String>) -> Self {
        self.version = Some(v.into()).filter(|v: &String| !v.is_empty());
        self
    }
    /// Sets the schema URL.
    pub fn with_schema_url(mut self, v: impl Into<String>) -> Self {
        self.schema_url = Some(v.into()).filter(|v: &String| !v.is_empty());
        self
    }
    /// Sets the scope attributes.
    pub fn with_attributes(mut self, attrs: impl IntoIterator<Item = KeyValue>) -> Self {
        self.attributes = AttributeSet::from_key_values(attrs.into_iter().collect());
        self
    }
    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The version.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
    /// The schema URL.
    pub fn schema_url(&self) -> Option<&str> {
        self.schema_url.as_deref()
    }
    /// The attributes.
    pub fn attributes(&self) -> &AttributeSet {
        &self.attributes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_env_precedence() {
        let env = |k: &str| match k {
            "OTEL_RESOURCE_ATTRIBUTES" => Some(
                "service.name=from-attrs,deployment.environment=prod%2Ceu, bad ,k=%E2%9C%93".into(),
            ),
            "OTEL_SERVICE_NAME" => Some("from-name".into()),
            _ => None,
        };
        let r = Resource::builder().build_with_env(env);
        assert_eq!(r.get("service.name"), Some(&Value::from("from-name")));
        assert_eq!(
            r.get("deployment.environment"),
            Some(&Value::from("prod,eu"))
        );
        assert_eq!(r.get("k"), Some(&Value::from("✓")));
        assert_eq!(r.get("telemetry.sdk.language"), Some(&Value::from("rust")));
        let r = Resource::builder()
            .with_service_name("code")
            .build_with_env(env);
        assert_eq!(r.get("service.name"), Some(&Value::from("code")));
    }

    #[test]
    fn default_service_name_is_unknown_service() {
        let r = Resource::builder().build_with_env(|_| None);
        match r.get("service.name") {
            Some(Value::Str(s)) => assert!(s.starts_with("unknown_service:"), "{s}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_percent_encoding_is_skipped() {
        let v = parse_resource_attributes("a=%zz,b=ok,=x");
        assert_eq!(v, vec![KeyValue::new("b", "ok")]);
    }
}
