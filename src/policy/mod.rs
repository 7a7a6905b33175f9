//! Who may reach what: ordered route rules, first match wins, on the canonical request path.
//!
//! A rule is either public (no sign-in needed) or lists conditions that must all hold for the
//! signed-in user: any of some groups, any of some roles, claim values, email domains, token
//! scopes. Requests no rule matches follow `[policy] default`.
//!
//! [`Policy::decide`] is the whole decision for a request, from its method, canonical path and
//! who is asking ([`Who`]) to [`Decision`]: allow, sign in, deny (with the rule and the typed
//! [`Condition`]), or fail (authentication could not say). It does no I/O and is tested as a table.

mod path;

use http::Method;
use serde_json::{Map, Value};

pub use path::{CanonicalPath, PathError, PathPattern};

use crate::identity::{ClaimPath, ClaimSource, Claims};

/// What unmatched requests get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAction {
    /// Any signed-in user.
    Authenticated,
    /// Nobody.
    Deny,
}

/// One `[[rules]]` entry.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Position in the configuration, for logs and `check`.
    pub index: usize,
    /// Paths it applies to.
    pub path: PathPattern,
    /// Methods it applies to; `None` for all.
    pub methods: Option<Vec<Method>>,
    /// No sign-in needed.
    pub public: bool,
    /// Any of these groups (`cognito:groups`, else `groups`).
    pub groups: Option<Vec<String>>,
    /// Any of these roles (from `[policy] role_claims`).
    pub roles: Option<Vec<String>>,
    /// Each claim equal to, or containing, one of its values.
    pub claims: Vec<(ClaimPath, Vec<String>)>,
    /// The email's domain is one of these (and the email is verified).
    pub email_domains: Option<Vec<String>>,
    /// The bearer token's scopes hold any of these.
    pub scopes: Option<Vec<String>>,
}

impl Rule {
    fn applies(&self, method: &Method, path: &CanonicalPath) -> bool {
        // Some frameworks upper-case the method before routing: `delete` is DELETE to them.
        let method = method.as_str();
        self.methods
            .as_ref()
            .is_none_or(|ms| ms.iter().any(|m| m.as_str().eq_ignore_ascii_case(method)))
            && self.path.matches(path)
    }

    /// The first condition `who` fails, if any.
    fn unmet(&self, policy: &Policy, who: &Principal<'_>) -> Option<Condition> {
        if !any_of(self.groups.as_deref(), || policy.groups.values(who.claims)) {
            return Some(Condition::Groups);
        }
        if !any_of(self.roles.as_deref(), || policy.roles(who.claims)) {
            return Some(Condition::Roles);
        }
        for (claim, wanted) in &self.claims {
            let source = ClaimSource {
                claims: vec![claim.clone()],
                split: None,
            };
            if !any_of(Some(wanted), || source.values(who.claims)) {
                return Some(Condition::Claims);
            }
        }
        if let Some(domains) = &self.email_domains {
            if !email_domain_in(who.claims, domains) {
                return Some(Condition::EmailDomains);
            }
        }
        if !any_of(self.scopes.as_deref(), || {
            who.scopes.map(<[String]>::to_vec).unwrap_or_default()
        }) {
            return Some(Condition::Scopes);
        }
        None
    }
}

/// Whether `wanted` is unset, or `have` (computed only when needed) holds one of its values.
fn any_of(wanted: Option<&[String]>, have: impl FnOnce() -> Vec<String>) -> bool {
    match wanted {
        None => true,
        Some(wanted) => {
            let have = have();
            wanted.iter().any(|w| have.contains(w))
        }
    }
}

/// Whether the email's domain is one of `domains` (compared without case). The claims hold an
/// email only when it is verified (see [`Claims::new`](crate::identity::Claims::new)); an
/// address that is not exactly a local part, one `@` and a domain belongs to no domain
/// (`ivan@evil.test@example.com` is not at `example.com`).
fn email_domain_in(claims: &Map<String, Value>, domains: &[String]) -> bool {
    let Some(email) = claims.get("email").and_then(Value::as_str) else {
        return false;
    };
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
        }
        _ => false,
    }
}

/// Who is asking: the claims of their session or bearer token, and a bearer token's scopes.
#[derive(Debug, Clone, Copy)]
pub struct Principal<'a> {
    /// Verified claims, as the identity holds them: an unverified email is not among them (the
    /// type says so: only [`Claims::new`] makes them).
    pub claims: &'a Claims,
    /// Scopes of a bearer access token; `None` for sessions.
    pub scopes: Option<&'a [String]>,
}

/// What the rules ask of a request, before knowing who sent it.
#[derive(Debug, Clone, Copy)]
pub enum Requirement<'a> {
    /// No sign-in needed.
    Public(&'a Rule),
    /// A signed-in user who meets the rule's conditions (or, with no rule, any signed-in user).
    Protected(Option<&'a Rule>),
    /// Nobody: unmatched under `default = "deny"`.
    Denied,
}

/// The condition a refused request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// None of the rule's `groups`.
    Groups,
    /// None of the rule's `roles`.
    Roles,
    /// A claim of the rule's `claims` without any of its values.
    Claims,
    /// No verified email in one of the rule's `email_domains`.
    EmailDomains,
    /// A bearer token without any of the rule's `scopes` (or no bearer token).
    Scopes,
    /// No rule matched, under `[policy] default = "deny"`.
    DefaultDeny,
}

impl Condition {
    /// The condition's name in logs and metrics: the rule key that failed, or `default_deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Groups => "groups",
            Self::Roles => "roles",
            Self::Claims => "claims",
            Self::EmailDomains => "email_domains",
            Self::Scopes => "scopes",
            Self::DefaultDeny => "default_deny",
        }
    }
}

/// Why a signed-in user was refused.
#[derive(Debug, Clone, Copy)]
pub struct Denial<'a> {
    /// The rule that refused, if a rule did.
    pub rule: Option<&'a Rule>,
    /// The condition that failed.
    pub condition: Condition,
}

/// Who is asking, as authentication found out: nobody, someone, or it could not tell.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    /// No session, no bearer token.
    Anonymous,
    /// A session's or a bearer token's verified identity.
    Known(Principal<'a>),
    /// Authentication failed: what the request carries could not be checked, or was refused.
    Failed(AuthFailure),
}

/// Why authentication could not say who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// A bearer token that was not accepted (malformed, forged, expired, another kind).
    BadToken,
    /// The session store cannot be reached.
    StoreUnavailable,
    /// A bearer token's issuer has not been discovered yet.
    IssuerUnavailable,
}

/// What becomes of a request: the one answer the rules give, before it is turned into a
/// response (a proxied request, a forward-auth answer, a page).
#[derive(Debug, Clone, Copy)]
pub enum Decision<'a> {
    /// Through.
    Allow,
    /// Nobody is signed in, and the route needs someone.
    SignIn,
    /// Refused by the rules.
    Deny(Denial<'a>),
    /// Cannot be decided: authentication failed.
    Fail(AuthFailure),
}

/// The rules, in order.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Rules, first match wins.
    pub rules: Vec<Rule>,
    /// For requests no rule matches.
    pub default: DefaultAction,
    /// Where roles come from.
    pub role_sources: Vec<ClaimSource>,
    groups: ClaimSource,
}

impl Policy {
    /// A policy of `rules`.
    pub fn new(rules: Vec<Rule>, default: DefaultAction, role_sources: Vec<ClaimSource>) -> Self {
        Self {
            rules,
            default,
            role_sources,
            groups: ClaimSource::named(&["cognito:groups", "groups"], None),
        }
    }

    /// The default roles sources: `cognito:groups`, and `custom:roles` split on `|`.
    pub fn default_role_sources() -> Vec<ClaimSource> {
        vec![
            ClaimSource::named(&["cognito:groups"], None),
            ClaimSource::named(&["custom:roles"], Some("|")),
        ]
    }

    /// What the rules ask of a request for `method` `path`.
    pub fn requirement(&self, method: &Method, path: &CanonicalPath) -> Requirement<'_> {
        match self.rules.iter().find(|r| r.applies(method, path)) {
            Some(rule) if rule.public => Requirement::Public(rule),
            Some(rule) => Requirement::Protected(Some(rule)),
            None if self.default == DefaultAction::Deny => Requirement::Denied,
            None => Requirement::Protected(None),
        }
    }

    /// The decision for `method` `path` asked by `who`: no I/O, nothing but the rules. A public
    /// route is served whoever asks, even when authentication failed (it needs neither the store
    /// nor a valid token); any other route needs a known identity that meets its rule.
    pub fn decide(&self, method: &Method, path: &CanonicalPath, who: Who<'_>) -> Decision<'_> {
        match (self.requirement(method, path), who) {
            (Requirement::Public(_), _) => Decision::Allow,
            (_, Who::Failed(failure)) => Decision::Fail(failure),
            (Requirement::Denied, _) => Decision::Deny(Denial {
                rule: None,
                condition: Condition::DefaultDeny,
            }),
            (Requirement::Protected(_), Who::Anonymous) => Decision::SignIn,
            (Requirement::Protected(rule), Who::Known(principal)) => {
                match self.authorize(rule, &principal) {
                    Ok(()) => Decision::Allow,
                    Err(denial) => Decision::Deny(denial),
                }
            }
        }
    }

    /// Whether `who` may take a protected route.
    pub fn authorize<'a>(
        &self,
        rule: Option<&'a Rule>,
        who: &Principal<'_>,
    ) -> Result<(), Denial<'a>> {
        match rule.and_then(|r| r.unmet(self, who).map(|c| (r, c))) {
            Some((r, condition)) => Err(Denial {
                rule: Some(r),
                condition,
            }),
            None => Ok(()),
        }
    }

    /// Every role of `claims`.
    pub fn roles(&self, claims: &Map<String, Value>) -> Vec<String> {
        self.role_sources
            .iter()
            .flat_map(|s| s.values(claims))
            .collect()
    }

    /// Problems with the rules that configuration checks cannot see: rules that never match,
    /// because an earlier rule takes every request they would, or because of their pattern.
    /// `key` is where the rules are configured (`rules`, `routes[2].rules`).
    pub fn lint(&self, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (j, later) in self.rules.iter().enumerate() {
            if later.path.as_str().contains(';') {
                out.push(format!(
                    "{key}[{}]: path {:?} can never match: ';' parameters are not part of matching",
                    later.index,
                    later.path.as_str()
                ));
            }
            let shadow = self.rules[..j].iter().find(|earlier| {
                later.path.covered_by(&earlier.path)
                    && match (&earlier.methods, &later.methods) {
                        (None, _) => true,
                        (Some(_), None) => false,
                        (Some(e), Some(l)) => l.iter().all(|m| e.contains(m)),
                    }
            });
            if let Some(earlier) = shadow {
                out.push(format!(
                    "{key}[{}]: never matches: {key}[{}] ({:?}) takes every request it would",
                    later.index,
                    earlier.index,
                    earlier.path.as_str()
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(index: usize, path: &str) -> Rule {
        Rule {
            index,
            path: PathPattern::parse(path).unwrap(),
            methods: None,
            public: false,
            groups: None,
            roles: None,
            claims: Vec::new(),
            email_domains: None,
            scopes: None,
        }
    }

    fn strings(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    fn policy(rules: Vec<Rule>, default: DefaultAction) -> Policy {
        Policy::new(rules, default, Policy::default_role_sources())
    }

    /// The claims of a verified token, as the identity holds them (unverified email left out).
    fn claims(v: Value) -> Claims {
        Claims::from(v.as_object().unwrap().clone())
    }

    fn decide(p: &Policy, method: &str, path: &str, who: &Claims) -> String {
        let path = CanonicalPath::parse(path).unwrap();
        match p.requirement(&method.parse().unwrap(), &path) {
            Requirement::Public(r) => format!("public {}", r.index),
            Requirement::Denied => "denied".into(),
            Requirement::Protected(r) => match p.authorize(
                r,
                &Principal {
                    claims: who,
                    scopes: None,
                },
            ) {
                Ok(()) => format!("allow {:?}", r.map(|r| r.index)),
                Err(d) => format!(
                    "deny {:?} {}",
                    d.rule.map(|r| r.index),
                    d.condition.as_str()
                ),
            },
        }
    }

    fn cognito_rules() -> Policy {
        let mut health = rule(0, "/health");
        health.public = true;
        let mut admin = rule(1, "/admin");
        admin.groups = strings(&["admins"]);
        let mut reports = rule(2, "/reports");
        reports.roles = strings(&["authp/admin", "authp/reports"]);
        let mut gold = rule(3, "/gold");
        gold.claims = vec![(
            ClaimPath::parse("custom:tier").unwrap(),
            vec!["gold".into()],
        )];
        let mut staff = rule(4, "/staff");
        staff.email_domains = strings(&["example.com"]);
        let mut writes = rule(5, "/api");
        writes.methods = Some(vec![Method::POST, Method::DELETE]);
        writes.groups = strings(&["writers"]);
        policy(
            vec![health, admin, reports, gold, staff, writes],
            DefaultAction::Authenticated,
        )
    }

    #[test]
    fn rule_table() {
        let p = cognito_rules();
        let alice = claims(json!({
            "sub": "a", "email": "alice@Example.com", "email_verified": true,
            "cognito:groups": ["admins"], "custom:roles": "authp/user|authp/reports", "custom:tier": "gold",
        }));
        let bob = claims(json!({
            "sub": "b", "email": "bob@example.com", "email_verified": "false",
            "groups": ["writers"], "custom:tier": "silver",
        }));
        let two_ats = claims(json!({
            "sub": "i", "email": "ivan@evil.test@example.com", "email_verified": true,
        }));
        let no_local = claims(json!({"sub": "n", "email": "@example.com", "email_verified": true}));
        let unsaid = claims(json!({"sub": "u", "email": "una@example.com"}));
        for (method, path, who, want) in [
            ("GET", "/health", &alice, "public 0"),
            ("GET", "/health/deep", &bob, "public 0"),
            ("GET", "/admin", &alice, "allow Some(1)"),
            ("GET", "/admin/users", &bob, "deny Some(1) groups"),
            ("GET", "/%61dmin", &bob, "deny Some(1) groups"),
            ("GET", "/x/../admin", &bob, "deny Some(1) groups"),
            ("GET", "/admin;x=1", &bob, "deny Some(1) groups"),
            ("GET", "/reports", &alice, "allow Some(2)"),
            ("GET", "/reports", &bob, "deny Some(2) roles"),
            ("GET", "/gold", &alice, "allow Some(3)"),
            ("GET", "/gold", &bob, "deny Some(3) claims"),
            ("GET", "/staff", &alice, "allow Some(4)"),
            ("GET", "/staff", &bob, "deny Some(4) email_domains"),
            ("GET", "/staff", &two_ats, "deny Some(4) email_domains"),
            ("GET", "/staff", &no_local, "deny Some(4) email_domains"),
            ("GET", "/staff", &unsaid, "deny Some(4) email_domains"),
            ("GET", "/api/items", &alice, "allow None"),
            ("POST", "/api/items", &alice, "deny Some(5) groups"),
            ("POST", "/api/items", &bob, "allow Some(5)"),
            ("post", "/api/items", &alice, "deny Some(5) groups"),
            ("GET", "/other", &bob, "allow None"),
        ] {
            assert_eq!(decide(&p, method, path, who), want, "{method} {path}");
        }
        // Under default deny, unmatched routes are refused.
        let mut p = cognito_rules();
        p.default = DefaultAction::Deny;
        assert_eq!(decide(&p, "GET", "/other", &alice), "denied");
        assert_eq!(decide(&p, "GET", "/admin", &alice), "allow Some(1)");
    }

    #[test]
    fn decision_table() {
        let p = cognito_rules();
        let mut deny_by_default = cognito_rules();
        deny_by_default.default = DefaultAction::Deny;
        let alice = claims(json!({"sub": "a", "cognito:groups": ["admins"]}));
        let bob = claims(json!({"sub": "b", "cognito:groups": ["staff"]}));
        let known = |c| {
            Who::Known(Principal {
                claims: c,
                scopes: None,
            })
        };
        let show = |d: Decision<'_>| match d {
            Decision::Allow => "allow".to_string(),
            Decision::SignIn => "sign in".to_string(),
            Decision::Deny(d) => format!(
                "deny {:?} {}",
                d.rule.map(|r| r.index),
                d.condition.as_str()
            ),
            Decision::Fail(f) => format!("fail {f:?}"),
        };
        let failed = Who::Failed(AuthFailure::StoreUnavailable);
        let bad_token = Who::Failed(AuthFailure::BadToken);
        for (policy, path, who, want) in [
            (&p, "/health", Who::Anonymous, "allow"),
            // A public route needs neither the store nor a valid token.
            (&p, "/health", failed, "allow"),
            (&p, "/health", bad_token, "allow"),
            (&p, "/admin", Who::Anonymous, "sign in"),
            (&p, "/admin", known(&alice), "allow"),
            (&p, "/admin", known(&bob), "deny Some(1) groups"),
            (&p, "/admin", failed, "fail StoreUnavailable"),
            (&p, "/admin", bad_token, "fail BadToken"),
            (&p, "/other", Who::Anonymous, "sign in"),
            (&p, "/other", known(&bob), "allow"),
            (
                &deny_by_default,
                "/other",
                Who::Anonymous,
                "deny None default_deny",
            ),
            (
                &deny_by_default,
                "/other",
                known(&alice),
                "deny None default_deny",
            ),
            (&deny_by_default, "/other", bad_token, "fail BadToken"),
            (&deny_by_default, "/health", Who::Anonymous, "allow"),
        ] {
            let path_ = CanonicalPath::parse(path).unwrap();
            assert_eq!(
                show(policy.decide(&Method::GET, &path_, who)),
                want,
                "{path} {who:?}"
            );
        }
    }

    #[test]
    fn roles_come_from_groups_and_custom_roles() {
        let p = cognito_rules();
        let c = claims(json!({"cognito:groups": ["g"], "custom:roles": "a|b"}));
        assert_eq!(p.roles(&c), ["g", "a", "b"]);
    }

    #[test]
    fn scopes_need_a_bearer_token() {
        let mut r = rule(0, "/api");
        r.scopes = strings(&["api/read"]);
        let p = policy(vec![r], DefaultAction::Authenticated);
        let c = claims(json!({"sub": "x"}));
        let path = CanonicalPath::parse("/api").unwrap();
        let Requirement::Protected(rule) = p.requirement(&Method::GET, &path) else {
            panic!()
        };
        let scopes = vec!["api/read".to_string()];
        assert!(
            p.authorize(
                rule,
                &Principal {
                    claims: &c,
                    scopes: Some(&scopes)
                }
            )
            .is_ok()
        );
        assert!(
            p.authorize(
                rule,
                &Principal {
                    claims: &c,
                    scopes: Some(&[])
                }
            )
            .is_err()
        );
        assert!(
            p.authorize(
                rule,
                &Principal {
                    claims: &c,
                    scopes: None
                }
            )
            .is_err()
        );
    }

    #[test]
    fn lint_finds_shadowed_rules() {
        let mut get_only = rule(2, "/api/v1");
        get_only.methods = Some(vec![Method::GET]);
        let mut post_admin = rule(3, "/admin/x");
        post_admin.methods = Some(vec![Method::POST]);
        let mut admin_get = rule(0, "/admin");
        admin_get.methods = Some(vec![Method::GET]);
        let rules = vec![
            admin_get,
            rule(1, "/api"),
            get_only,
            post_admin,
            rule(4, "/a;b"),
        ];
        let lint = policy(rules, DefaultAction::Authenticated).lint("rules");
        assert_eq!(lint.len(), 2, "{lint:#?}");
        assert!(
            lint[0].starts_with("rules[2]: never matches: rules[1]"),
            "{lint:#?}"
        );
        assert!(lint[1].starts_with("rules[4]: path"), "{lint:#?}");
    }
}
