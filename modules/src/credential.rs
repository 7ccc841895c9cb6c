//! [`CredentialEntry`]: one `basic-auth` credential in either form ngrok documents, the
//! `"username:password"` string of the action reference or the `{username, password}` map of
//! ngrok's examples page.

use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor, value::MapAccessDeserializer};

use crate::scalar_text::ScalarText;

/// A credential as written in the policy.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(untagged)]
pub enum CredentialEntry {
    /// `username:password`; `${…}` allowed on either side of the first `:`.
    Text(String),
    /// `{username, password}`; each may use `${…}`.
    Pair(CredentialPair),
}

/// A credential written as a map.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialPair {
    /// The username (no `:`).
    pub username: ScalarText,
    /// The password, 8 to 128 characters.
    pub password: ScalarText,
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = CredentialEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a `username:password` string or a `{username, password}` map")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<CredentialEntry, E> {
        Ok(CredentialEntry::Text(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<CredentialEntry, E> {
        Ok(CredentialEntry::Text(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CredentialEntry, A::Error> {
        CredentialPair::deserialize(MapAccessDeserializer::new(map)).map(CredentialEntry::Pair)
    }
}

impl<'de> Deserialize<'de> for CredentialEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EntryVisitor)
    }
}
