//! A session's stored form, as sealed into the cookie or kept in Redis: a format byte, then the
//! fields in postcard's compact binary encoding. Tokens made of base64url segments (JWTs, and
//! JWEs such as Cognito's refresh tokens) are kept as the bytes they encode, a quarter smaller
//! than their text: a Cognito session with its refresh token fits one cookie rather than two.
//! Sealing base64url-encodes the whole once more, so text tokens would otherwise pay for
//! base64 twice.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::Session;
use crate::identity::{Claims, EmailTrust};
use crate::oidc::unverified_claims;

/// Leading byte of the stored form; anything else (JSON, or another form) does not open, and
/// its holder simply signs in again.
const FORMAT: u8 = 3;
/// The form before the access token was kept: still read (as a session without one), so that
/// an upgrade signs nobody out.
const FORMAT_WITHOUT_ACCESS_TOKEN: u8 = 2;

/// The stored fields of a [`Session`], borrowing from it (to encode) or from the stored bytes
/// (to decode).
#[derive(Serialize, Deserialize)]
struct Stored<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    issued_at: u64,
    expires_at: u64,
    last_seen: u64,
    tokens_expire_at: u64,
    #[serde(borrow)]
    id_token: Token<'a>,
    #[serde(borrow)]
    refresh_token: Option<Token<'a>>,
    #[serde(borrow)]
    access_token: Option<Token<'a>>,
}

/// The stored fields of [`FORMAT_WITHOUT_ACCESS_TOKEN`].
#[derive(Deserialize)]
struct StoredWithoutAccessToken<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    issued_at: u64,
    expires_at: u64,
    last_seen: u64,
    tokens_expire_at: u64,
    #[serde(borrow)]
    id_token: Token<'a>,
    #[serde(borrow)]
    refresh_token: Option<Token<'a>>,
}

impl<'a> From<StoredWithoutAccessToken<'a>> for Stored<'a> {
    fn from(s: StoredWithoutAccessToken<'a>) -> Self {
        Stored {
            id: s.id,
            issued_at: s.issued_at,
            expires_at: s.expires_at,
            last_seen: s.last_seen,
            tokens_expire_at: s.tokens_expire_at,
            id_token: s.id_token,
            refresh_token: s.refresh_token,
            access_token: None,
        }
    }
}

/// A token as stored.
#[derive(Serialize, Deserialize)]
enum Token<'a> {
    /// Any other token (opaque refresh tokens), as its text.
    Text(#[serde(borrow)] Cow<'a, str>),
    /// The decoded bytes of each `.`-separated base64url segment.
    Segments(#[serde(borrow)] Vec<Segment<'a>>),
}

/// One decoded segment of a [`Token::Segments`].
#[derive(Serialize, Deserialize)]
struct Segment<'a>(#[serde(borrow, with = "serde_bytes")] Cow<'a, [u8]>);

impl<'a> Token<'a> {
    fn from_text(text: &'a str) -> Self {
        if !text.contains('.') {
            return Token::Text(text.into());
        }
        // Strict decoding (no padding, no stray trailing bits) means re-encoding each segment
        // gives back exactly the text that was stored.
        let segments: Option<Vec<Segment>> = text
            .split('.')
            .map(|s| URL_SAFE_NO_PAD.decode(s).ok().map(|b| Segment(b.into())))
            .collect();
        match segments {
            Some(segments) => Token::Segments(segments),
            None => Token::Text(text.into()),
        }
    }

    fn into_text(self) -> String {
        match self {
            Token::Text(text) => text.into_owned(),
            Token::Segments(segments) => {
                let mut text = String::new();
                for (i, Segment(bytes)) in segments.iter().enumerate() {
                    if i > 0 {
                        text.push('.');
                    }
                    URL_SAFE_NO_PAD.encode_string(bytes, &mut text);
                }
                text
            }
        }
    }
}

impl Session {
    /// The session's stored form.
    pub fn to_stored(&self) -> Vec<u8> {
        let stored = Stored {
            id: Cow::Borrowed(&self.id),
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            last_seen: self.last_seen,
            tokens_expire_at: self.tokens_expire_at,
            id_token: Token::from_text(&self.id_token),
            refresh_token: self.refresh_token.as_deref().map(Token::from_text),
            access_token: self.access_token.as_deref().map(Token::from_text),
        };
        // Writing to a Vec only fails for types serde cannot express; these are all plain.
        postcard::to_extend(&stored, vec![FORMAT]).unwrap_or_default()
    }

    /// A session from its stored form, claims decoded; `None` for anything else.
    pub fn from_stored(stored: &[u8], email: EmailTrust) -> Option<Session> {
        let (&format, rest) = stored.split_first()?;
        let (stored, trailing): (Stored, _) = match format {
            FORMAT => postcard::take_from_bytes::<Stored>(rest).ok()?,
            FORMAT_WITHOUT_ACCESS_TOKEN => {
                let (old, trailing) =
                    postcard::take_from_bytes::<StoredWithoutAccessToken>(rest).ok()?;
                (old.into(), trailing)
            }
            _ => return None,
        };
        if !trailing.is_empty() {
            return None;
        }
        let id_token = stored.id_token.into_text();
        let claims = unverified_claims(&id_token).ok()?;
        Some(Session {
            id: stored.id.into_owned(),
            issued_at: stored.issued_at,
            expires_at: stored.expires_at,
            last_seen: stored.last_seen,
            id_token,
            refresh_token: stored.refresh_token.map(Token::into_text),
            access_token: stored.access_token.map(Token::into_text),
            tokens_expire_at: stored.tokens_expire_at,
            claims: Arc::new(Claims::new(claims, email)),
            ticket: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn session(id_token: &str, refresh_token: Option<&str>) -> Session {
        let claims = unverified_claims(id_token).unwrap();
        let mut session = Session::new(
            id_token.into(),
            claims.into(),
            refresh_token.map(Into::into),
            Duration::from_secs(3600),
            1_700_000_000,
        );
        session.last_seen = 1_700_000_100;
        session
    }

    fn jwt(claims: serde_json::Value) -> String {
        let part = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        format!(
            "{}.{}.{}",
            part(br#"{"alg":"RS256"}"#),
            part(claims.to_string().as_bytes()),
            part(&[0xfb; 256])
        )
    }

    #[test]
    fn round_trips_every_kind_of_token_exactly() {
        let id_token = jwt(json!({"sub": "u", "exp": 1_700_003_600u64, "custom:roles": "a|b"}));
        let refresh_tokens = [
            None,
            // A JWE with an empty segment, as with direct encryption.
            Some("eyJhbGciOiJkaXIifQ..aXY.Y2lwaGVydGV4dA.dGFn"),
            // Opaque tokens, some of them base64url-like but not strictly so.
            Some("1//0gAbCdEf-opaque_token"),
            Some("abc"),
            Some("YQ"),
            Some(""),
            // Dotted, but not strict base64url: padding, stray trailing bits, a length no
            // base64 has, other characters. Kept as text, and exactly.
            Some("YQ==.YQ"),
            Some("YQ.YR"),
            Some("a.YQ"),
            Some("é.YQ"),
            // Strict base64url, empty segments included.
            Some("."),
            Some(".."),
            Some("YQ."),
        ];
        for refresh in refresh_tokens {
            let original = session(&id_token, refresh);
            let stored = Session::to_stored(&original);
            let back = Session::from_stored(&stored, EmailTrust::default()).unwrap();
            assert_eq!(back.id, original.id);
            assert_eq!(back.id_token, id_token);
            assert_eq!(back.refresh_token.as_deref(), refresh);
            assert_eq!(
                (back.issued_at, back.expires_at, back.last_seen),
                (1_700_000_000, 1_700_003_600, 1_700_000_100)
            );
            assert_eq!(back.tokens_expire_at, 1_700_003_600);
            assert_eq!(back.claims["custom:roles"], "a|b");
        }
    }

    #[test]
    fn only_strict_base64url_segments_are_stored_as_bytes() {
        let kind = |text| match Token::from_text(text) {
            Token::Text(_) => "text",
            Token::Segments(_) => "segments",
        };
        for text in ["YQ.YQ", "YQ.", ".", "eyJhbGciOiJkaXIifQ..aXY"] {
            assert_eq!(kind(text), "segments", "{text}");
        }
        for text in ["YQ", "", "YQ==.YQ", "YQ.YR", "a.YQ", "é.YQ", "YQ YQ.YQ"] {
            assert_eq!(kind(text), "text", "{text}");
        }
    }

    #[test]
    fn tokens_are_stored_as_their_bytes() {
        let id_token = jwt(json!({"sub": "u", "exp": 1u64}));
        let refresh = format!("{}.{}", "r".repeat(1600), "s".repeat(180));
        let stored = Session::to_stored(&session(&id_token, Some(&refresh)));
        let text = id_token.len() + refresh.len();
        // Three quarters of the tokens' text, and about 60 bytes of the other fields.
        assert!(
            stored.len() * 4 < text * 3 + 4 * 64,
            "{} of {text}",
            stored.len()
        );
    }

    #[test]
    fn sessions_stored_before_the_access_token_still_open() {
        let session = session(&jwt(json!({"sub": "u"})), Some("r"));
        let mut stored = Session::to_stored(&session);
        // The earlier form: the same fields, without the access token's (`None`: one 0 byte).
        assert_eq!(stored.pop(), Some(0));
        stored[0] = FORMAT_WITHOUT_ACCESS_TOKEN;
        let opened = Session::from_stored(&stored, EmailTrust::default()).unwrap();
        assert_eq!(opened.refresh_token.as_deref(), Some("r"));
        assert_eq!(opened.access_token, None);
    }

    #[test]
    fn anything_else_does_not_open() {
        let good = Session::to_stored(&session(&jwt(json!({"sub": "u"})), Some("r")));
        assert!(Session::from_stored(&good, EmailTrust::default()).is_some());
        // An earlier JSON session, another format byte, any truncation, trailing bytes.
        assert!(Session::from_stored(br#"{"id":"x"}"#, EmailTrust::default()).is_none());
        let mut other = good.clone();
        other[0] = FORMAT + 1;
        assert!(Session::from_stored(&other, EmailTrust::default()).is_none());
        other[0] = FORMAT_WITHOUT_ACCESS_TOKEN - 1;
        assert!(Session::from_stored(&other, EmailTrust::default()).is_none());
        for end in 0..good.len() {
            assert!(
                Session::from_stored(&good[..end], EmailTrust::default()).is_none(),
                "truncated at {end}"
            );
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(Session::from_stored(&longer, EmailTrust::default()).is_none());
        // An ID token whose payload is not JSON claims.
        let bad = Session::to_stored(&session(&jwt(json!({"sub": "u"})), None));
        let mut s = Session::from_stored(&bad, EmailTrust::default()).unwrap();
        s.id_token = "e30.bm90IGpzb24.c2ln".into();
        assert!(Session::from_stored(&Session::to_stored(&s), EmailTrust::default()).is_none());
    }
}
