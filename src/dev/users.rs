//! The development issuer's users: from a TOML file (`[[users]]`), or the demo's two.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// A user who can sign in at the development issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevUser {
    /// Sign-in name (`cognito:username`).
    pub username: String,
    /// Password, in clear: this issuer is for development only.
    pub password: String,
    /// Email address.
    pub email: String,
    /// `cognito:groups`.
    #[serde(default)]
    pub groups: Vec<String>,
    /// More attributes, such as `name` or `custom:roles` (strings, as Cognito has them).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl DevUser {
    /// A stable, UUID-shaped `sub` derived from the username.
    pub fn sub(&self) -> String {
        let h = Sha256::digest(self.username.as_bytes());
        let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-4{}-8{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[13..16],
            &hex[17..20],
            &hex[20..32]
        )
    }

    /// The claims of this user's ID token that describe the user.
    pub fn id_claims(&self) -> Map<String, Value> {
        let mut c = Map::new();
        c.insert("sub".into(), json!(self.sub()));
        c.insert("cognito:username".into(), json!(self.username));
        c.insert("email".into(), json!(self.email));
        c.insert("email_verified".into(), json!(true));
        if !self.groups.is_empty() {
            c.insert("cognito:groups".into(), json!(self.groups));
        }
        for (k, v) in &self.attributes {
            c.insert(k.clone(), json!(v));
        }
        c
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: Vec<DevUser>,
}

/// Reads users from a TOML file of `[[users]]` entries.
pub fn load(path: &Path) -> Result<Vec<DevUser>, String> {
    use figment::providers::{Format, Toml};
    if !path.exists() {
        return Err(format!("{}: no such file", path.display()));
    }
    let file: UsersFile = figment::Figment::from(Toml::file(path))
        .extract()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if file.users.is_empty() {
        return Err(format!("{}: no [[users]]", path.display()));
    }
    Ok(file.users)
}

/// The demo's users.
pub fn demo_users() -> Vec<DevUser> {
    let user = |username: &str, groups: &[&str], roles: &str, name: &str| DevUser {
        username: username.to_string(),
        password: format!("{username}-demo"),
        email: format!("{username}@example.com"),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        attributes: [
            ("custom:roles".to_string(), roles.to_string()),
            ("name".to_string(), name.to_string()),
        ]
        .into(),
    };
    vec![
        user(
            "alice",
            &["admins", "staff"],
            "authp/admin|authp/user",
            "Alice Admin",
        ),
        user("bob", &["staff"], "authp/user", "Bob Builder"),
    ]
}
