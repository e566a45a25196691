//! Globs and regular expressions that compile while they are deserialized, so a bad pattern in
//! a rule or playbook file is reported with its file, line and column like any other type error.

use std::borrow::Cow;

use globset::{Glob as GlobPattern, GlobMatcher};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A shell-style glob (`shop-*`, `team-{a,b}`), matched against whole strings.
#[derive(Debug, Clone)]
pub struct Glob {
    source: String,
    matcher: GlobMatcher,
}

impl Glob {
    /// Compiles a glob.
    pub fn new(source: &str) -> Result<Self, String> {
        let glob = GlobPattern::new(source)
            .map_err(|err| format!("invalid glob `{source}`: {}", err.kind()))?;
        Ok(Self {
            source: source.to_owned(),
            matcher: glob.compile_matcher(),
        })
    }

    /// Whether `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        self.matcher.is_match(text)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl<'de> Deserialize<'de> for Glob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        Glob::new(&source).map_err(D::Error::custom)
    }
}

impl Serialize for Glob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl JsonSchema for Glob {
    fn schema_name() -> Cow<'static, str> {
        "Glob".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "description": "A shell-style glob, e.g. `shop-*`."})
    }
}

/// A regular expression (Rust `regex` syntax; `(?i)` for case-insensitive).
#[derive(Debug, Clone)]
pub struct Pattern(regex::Regex);

impl Pattern {
    /// Compiles a regular expression.
    pub fn new(source: &str) -> Result<Self, String> {
        regex::RegexBuilder::new(source)
            .size_limit(1 << 20)
            .build()
            .map(Pattern)
            .map_err(|err| format!("invalid regex `{source}`: {err}"))
    }

    /// Whether `text` contains a match.
    pub fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }

    /// The compiled expression.
    pub fn regex(&self) -> &regex::Regex {
        &self.0
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        Pattern::new(&source).map_err(D::Error::custom)
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

impl JsonSchema for Pattern {
    fn schema_name() -> Cow<'static, str> {
        "Pattern".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "regex"})
    }
}

/// Whether any glob in `globs` matches `text`.
pub fn any_match(globs: &[Glob], text: &str) -> bool {
    globs.iter().any(|glob| glob.is_match(text))
}

#[cfg(test)]
mod tests {
    use super::{Glob, Pattern};

    #[test]
    fn globs_match_whole_names() {
        let glob = Glob::new("shop-*").expect("valid");
        assert!(glob.is_match("shop-eu"));
        assert!(!glob.is_match("myshop-eu"));
        assert!(Glob::new("team-{a,b}").expect("valid").is_match("team-b"));
    }

    #[test]
    fn a_bad_glob_or_regex_says_what_is_wrong() {
        assert!(Glob::new("shop-[").expect_err("invalid").contains("shop-["));
        assert!(
            Pattern::new("(unclosed")
                .expect_err("invalid")
                .contains("(unclosed")
        );
    }
}
