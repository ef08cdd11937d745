//! Visitor identity tokens: HS256 JWTs a host site signs for its users
//! (`docs/identity.md`).
//!
//! Owns: their limits, signing them (what a host site's server computes, and `kefu site
//! sign`), and verifying them: only the HS256 header, the signature in constant time and
//! before the payload is read, canonical base64url, typed claims within the limits of a
//! `hello`'s `user`, and the times with their leeway. Knows nothing of connections or of
//! what agents are shown.

/// Longest identity token accepted, in bytes.
pub const IDENTITY_TOKEN_MAX: usize = 4096;
/// Clock skew allowed between the host site and kefu on `exp`, `iat` and `nbf` (seconds).
pub const IDENTITY_LEEWAY_SECS: i64 = 60;
/// Furthest ahead a token's `exp` may lie (7 days): longer-lived tokens are refused.
pub const IDENTITY_TTL_MAX_SECS: i64 = 7 * 24 * 3600;

/// The only header kefu signs with, and the only `alg` it accepts.
const IDENTITY_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// What an identity token vouches for: its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityClaims {
    /// The host site's user id (`sub`), 1-128 characters.
    pub sub: String,
    /// The user's name; empty when the token has none.
    pub name: String,
    /// Custom attributes, strings only.
    pub attrs: std::collections::BTreeMap<String, String>,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// When the token was issued, Unix seconds.
    pub iat: Option<i64>,
}

/// Why an identity token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the site has no secret")]
    NoSecret,
    #[error("the token is over {IDENTITY_TOKEN_MAX} bytes")]
    TooLong,
    #[error("the token is not three base64url parts")]
    Malformed,
    #[error("the token's header is not a JWT header kefu understands")]
    BadHeader,
    #[error("unsupported algorithm: only HS256 is accepted")]
    BadAlgorithm,
    #[error("bad signature")]
    BadSignature,
    #[error("the token's payload is not a JSON object")]
    BadPayload,
    #[error("bad claim: {0}")]
    BadClaim(&'static str),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's exp is more than 7 days ahead")]
    TooLongLived,
}

impl IdentityClaims {
    /// Claims for `sub` issued at `now` and valid for `ttl` seconds, checked against the
    /// limits `verify_identity` applies (so a token signed from them is accepted).
    pub fn new(
        sub: &str,
        name: &str,
        attrs: impl IntoIterator<Item = (String, String)>,
        now: i64,
        ttl: i64,
    ) -> Result<IdentityClaims, IdentityError> {
        if !(1..=IDENTITY_TTL_MAX_SECS).contains(&ttl) {
            return Err(IdentityError::BadClaim(
                "the lifetime must be 1 s to 7 days",
            ));
        }
        let claims = IdentityClaims {
            sub: sub.to_string(),
            name: name.to_string(),
            attrs: attrs.into_iter().collect(),
            exp: now + ttl,
            iat: Some(now),
        };
        claims.check_limits()?;
        claims.check_times(None, now)?;
        // The length of a token does not depend on the key.
        if sign_identity("any key", &claims).len() > IDENTITY_TOKEN_MAX {
            return Err(IdentityError::TooLong);
        }
        Ok(claims)
    }

    /// The limits of `user` in a `hello` (`crate::protocol`), on the signed fields.
    fn check_limits(&self) -> Result<(), IdentityError> {
        use crate::protocol::{
            USER_ATTRS_MAX, USER_ATTR_KEY_MAX, USER_ATTR_VALUE_MAX, USER_ID_MAX, USER_NAME_MAX,
        };
        let chars = |s: &str| s.chars().count();
        if self.sub.is_empty() || chars(&self.sub) > USER_ID_MAX {
            return Err(IdentityError::BadClaim("sub must be 1-128 characters"));
        }
        if chars(&self.name) > USER_NAME_MAX {
            return Err(IdentityError::BadClaim("name is over 128 characters"));
        }
        if self.attrs.len() > USER_ATTRS_MAX {
            return Err(IdentityError::BadClaim("attrs has more than 20 entries"));
        }
        if self
            .attrs
            .iter()
            .any(|(k, v)| chars(k) > USER_ATTR_KEY_MAX || chars(v) > USER_ATTR_VALUE_MAX)
        {
            return Err(IdentityError::BadClaim(
                "an attribute is too long (keys 64, values 256 characters)",
            ));
        }
        Ok(())
    }

    /// `exp`, `iat` and `nbf` against `now`, with `IDENTITY_LEEWAY_SECS` either way.
    fn check_times(&self, nbf: Option<i64>, now: i64) -> Result<(), IdentityError> {
        if now >= self.exp.saturating_add(IDENTITY_LEEWAY_SECS) {
            return Err(IdentityError::Expired);
        }
        if self.exp > now.saturating_add(IDENTITY_TTL_MAX_SECS + IDENTITY_LEEWAY_SECS) {
            return Err(IdentityError::TooLongLived);
        }
        let future = |t: Option<i64>| t.is_some_and(|t| t > now + IDENTITY_LEEWAY_SECS);
        if future(self.iat) || future(nbf) {
            return Err(IdentityError::NotYetValid);
        }
        Ok(())
    }

    /// The claims of a payload, typed; `nbf` on the side. Unknown claims are ignored.
    fn from_payload(
        p: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(IdentityClaims, Option<i64>), IdentityError> {
        use serde_json::Value;
        let bad = IdentityError::BadClaim;
        let time = |k: &str, what: &'static str| match p.get(k) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or(bad(what)),
        };
        let sub = match p.get("sub") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(bad("sub must be a string")),
        };
        let name = match p.get("name") {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(bad("name must be a string")),
        };
        let attrs = match p.get("attrs") {
            None => Default::default(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(bad("attribute values must be strings")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad("attrs must be an object")),
        };
        let exp = time("exp", "exp must be an integer")?.ok_or(bad("exp is missing"))?;
        let iat = time("iat", "iat must be an integer")?;
        let nbf = time("nbf", "nbf must be an integer")?;
        Ok((
            IdentityClaims {
                sub,
                name,
                attrs,
                exp,
                iat,
            },
            nbf,
        ))
    }
}

fn identity_mac(secret: &str, signing_input: &str) -> hmac::Hmac<sha2::Sha256> {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(signing_input.as_bytes());
    mac
}

/// An identity token for `claims`, signed with the site `secret`: what a host site's
/// server computes (`docs/identity.md`), and what `kefu site sign` prints.
pub fn sign_identity(secret: &str, claims: &IdentityClaims) -> String {
    use data_encoding::BASE64URL_NOPAD as B64;
    use hmac::Mac;
    use serde_json::json;
    let mut p = serde_json::Map::new();
    p.insert("sub".into(), json!(claims.sub));
    if !claims.name.is_empty() {
        p.insert("name".into(), json!(claims.name));
    }
    if !claims.attrs.is_empty() {
        p.insert("attrs".into(), json!(claims.attrs));
    }
    if let Some(iat) = claims.iat {
        p.insert("iat".into(), json!(iat));
    }
    p.insert("exp".into(), json!(claims.exp));
    let input = format!(
        "{}.{}",
        B64.encode(IDENTITY_HEADER.as_bytes()),
        B64.encode(serde_json::Value::Object(p).to_string().as_bytes())
    );
    let sig = identity_mac(secret, &input).finalize().into_bytes();
    format!("{input}.{}", B64.encode(&sig))
}

/// The claims of identity `token` if it is an HS256 JWT signed with the site `secret`,
/// within the limits, and valid at `now` (Unix seconds). The signature is compared in
/// constant time, and checked before the payload is read.
pub fn verify_identity(
    secret: &str,
    token: &str,
    now: i64,
) -> Result<IdentityClaims, IdentityError> {
    use data_encoding::BASE64URL_NOPAD as B64;
    use hmac::Mac;
    use serde_json::{Map, Value};
    if secret.is_empty() {
        return Err(IdentityError::NoSecret);
    }
    if token.len() > IDENTITY_TOKEN_MAX {
        return Err(IdentityError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdentityError::Malformed);
    };
    let decode = |part: &str| {
        B64.decode(part.as_bytes())
            .map_err(|_| IdentityError::Malformed)
    };
    let header: Map<String, Value> =
        serde_json::from_slice(&decode(h)?).map_err(|_| IdentityError::BadHeader)?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "HS256" => {}
        Some(Value::String(_)) => return Err(IdentityError::BadAlgorithm),
        _ => return Err(IdentityError::BadHeader),
    }
    let typ_ok = match header.get("typ") {
        None => true,
        Some(Value::String(t)) => t.eq_ignore_ascii_case("JWT"),
        Some(_) => false,
    };
    // No extension is understood, so none may be critical (RFC 7515 §4.1.11).
    if !typ_ok || header.contains_key("crit") {
        return Err(IdentityError::BadHeader);
    }
    let sig = decode(s)?;
    identity_mac(secret, &token[..h.len() + 1 + p.len()])
        .verify_slice(&sig)
        .map_err(|_| IdentityError::BadSignature)?;
    let payload: Map<String, Value> =
        serde_json::from_slice(&decode(p)?).map_err(|_| IdentityError::BadPayload)?;
    let (claims, nbf) = IdentityClaims::from_payload(&payload)?;
    claims.check_limits()?;
    claims.check_times(nbf, now)?;
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use data_encoding::BASE64URL_NOPAD as B64;
    use hmac::Mac;
    use serde_json::json;

    const NOW: i64 = 1_764_370_000;

    /// A token with any header and payload text, signed with `secret`.
    fn forge(secret: &str, header: &str, payload: &str) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.as_bytes()),
            B64.encode(payload.as_bytes())
        );
        let sig = identity_mac(secret, &input).finalize().into_bytes();
        format!("{input}.{}", B64.encode(&sig))
    }

    fn signed(payload: serde_json::Value) -> String {
        forge("site-secret", IDENTITY_HEADER, &payload.to_string())
    }

    fn check(token: &str) -> Result<IdentityClaims, IdentityError> {
        verify_identity("site-secret", token, NOW)
    }

    fn ok_payload() -> serde_json::Value {
        json!({"sub": "user-42", "exp": NOW + 3600})
    }

    /// Made by the Python example of docs/identity.md with the clock at `NOW`.
    const PYTHON_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIiwiaWF0IjoxNzY0MzcwMDAwLCJleHAiOjE3NjQzNzM2MDAsIm5hbWUiOiJab1x1MDBlYiBcdTY3NGUiLCJhdHRycyI6eyJwbGFuIjoiZW50ZXJwcmlzZSJ9fQ.1jU23qY4fG6HBI9iaqJYGCMBxT5LMPelkNDCCb4IwSM";

    #[test]
    fn a_token_from_the_documented_python_example_verifies() {
        let c = check(PYTHON_TOKEN).unwrap();
        assert_eq!(c.sub, "user-42");
        assert_eq!(c.name, "Zoë 李");
        assert_eq!(c.attrs.len(), 1);
        assert_eq!(c.attrs["plan"], "enterprise");
        assert_eq!((c.exp, c.iat), (NOW + 3600, Some(NOW)));
        assert_eq!(
            verify_identity("other-secret", PYTHON_TOKEN, NOW),
            Err(IdentityError::BadSignature)
        );
    }

    #[test]
    fn signed_claims_verify_and_round_trip() {
        let claims = IdentityClaims::new(
            "user-42",
            "Ann Lee",
            [("plan".to_string(), "gold".to_string())],
            NOW,
            600,
        )
        .unwrap();
        let token = sign_identity("site-secret", &claims);
        assert!(token.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."));
        assert_eq!(check(&token), Ok(claims));
        // Empty name and attributes are left out of the payload.
        let bare = IdentityClaims::new("u", "", [], NOW, 600).unwrap();
        let token = sign_identity("site-secret", &bare);
        let payload = B64
            .decode(token.split('.').nth(1).unwrap().as_bytes())
            .unwrap();
        let payload: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(payload, json!({"sub": "u", "iat": NOW, "exp": NOW + 600}));
        assert_eq!(check(&token), Ok(bare));
    }

    #[test]
    fn expiry_and_issue_times_allow_only_the_leeway() {
        let at = |now: i64| verify_identity("site-secret", &signed(ok_payload()), now);
        let exp = NOW + 3600;
        assert!(at(exp + IDENTITY_LEEWAY_SECS - 1).is_ok());
        assert_eq!(at(exp + IDENTITY_LEEWAY_SECS), Err(IdentityError::Expired));
        assert_eq!(at(exp + 86_400), Err(IdentityError::Expired));
        let far = |exp: i64| check(&signed(json!({"sub": "u", "exp": exp})));
        assert!(far(NOW + IDENTITY_TTL_MAX_SECS).is_ok());
        assert_eq!(
            far(NOW + IDENTITY_TTL_MAX_SECS + IDENTITY_LEEWAY_SECS + 1),
            Err(IdentityError::TooLongLived)
        );
        assert_eq!(far(i64::MAX), Err(IdentityError::TooLongLived));
        assert_eq!(far(i64::MIN), Err(IdentityError::Expired));
        for claim in ["iat", "nbf"] {
            let mut p = ok_payload();
            p[claim] = json!(NOW + IDENTITY_LEEWAY_SECS);
            assert!(check(&signed(p.clone())).is_ok(), "{claim}");
            p[claim] = json!(NOW + IDENTITY_LEEWAY_SECS + 1);
            assert_eq!(
                check(&signed(p)),
                Err(IdentityError::NotYetValid),
                "{claim}"
            );
        }
    }

    #[test]
    fn only_hs256_headers_are_accepted() {
        let p = ok_payload().to_string();
        let with = |header: &str| check(&forge("site-secret", header, &p));
        assert!(with(r#"{"alg":"HS256"}"#).is_ok());
        assert!(with(r#"{"typ":"jwt","alg":"HS256"}"#).is_ok());
        for alg in ["none", "None", "hs256", "HS512", "RS256", ""] {
            let h = json!({"alg": alg, "typ": "JWT"}).to_string();
            assert_eq!(with(&h), Err(IdentityError::BadAlgorithm), "{alg}");
        }
        for h in [
            r#"{"typ":"JWT"}"#,
            r#"{"alg":null}"#,
            r#"{"alg":["HS256"]}"#,
            r#"{"alg":"HS256","typ":"JWE"}"#,
            r#"{"alg":"HS256","typ":1}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"["HS256"]"#,
            "HS256",
            "",
        ] {
            assert_eq!(with(h), Err(IdentityError::BadHeader), "{h}");
        }
        // The classic unsigned token.
        let none = format!(
            "{}.{}.",
            B64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            B64.encode(p.as_bytes())
        );
        assert_eq!(check(&none), Err(IdentityError::BadAlgorithm));
        // An HS256 header with no signature.
        let unsigned = format!(
            "{}.{}.",
            B64.encode(IDENTITY_HEADER.as_bytes()),
            B64.encode(p.as_bytes())
        );
        assert_eq!(check(&unsigned), Err(IdentityError::BadSignature));
    }

    #[test]
    fn tampered_tokens_and_other_secrets_fail_the_signature() {
        let good = signed(json!({"sub": "user-42", "name": "Ann", "exp": NOW + 60}));
        let evil = signed(json!({"sub": "user-42", "name": "CEO", "exp": NOW + 60}));
        let g: Vec<&str> = good.split('.').collect();
        let e: Vec<&str> = evil.split('.').collect();
        let spliced = format!("{}.{}.{}", g[0], e[1], g[2]);
        assert_eq!(check(&spliced), Err(IdentityError::BadSignature));
        let other = forge("other-secret", IDENTITY_HEADER, &ok_payload().to_string());
        assert_eq!(check(&other), Err(IdentityError::BadSignature));
        let short = format!("{}.{}.{}", g[0], g[1], &g[2][..40]);
        assert!(check(&short).is_err());
        assert_eq!(
            verify_identity("", &good, NOW),
            Err(IdentityError::NoSecret)
        );
    }

    #[test]
    fn only_canonical_unpadded_base64url_in_three_parts() {
        let good = signed(ok_payload());
        assert!(check(&good).is_ok());
        let parts: Vec<&str> = good.split('.').collect();
        for bad in [
            format!("{good}="),
            format!("{good}."),
            format!("{}.{}", parts[0], parts[1]),
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            good.replace('-', "+").replace('_', "/"),
            format!(" {good}"),
            String::new(),
            "..".to_string(),
        ] {
            if bad == good {
                continue;
            }
            assert!(check(&bad).is_err(), "{bad}");
        }
        // A signature whose unused trailing bits differ decodes to the same bytes in a
        // lax decoder: refused.
        let sig = parts[2];
        let last = sig.chars().last().unwrap();
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let i = alphabet.find(last).unwrap();
        let twin = alphabet.chars().nth(i ^ 1).unwrap();
        let lax = format!("{}.{}.{}{twin}", parts[0], parts[1], &sig[..sig.len() - 1]);
        assert_eq!(check(&lax), Err(IdentityError::Malformed));
    }

    #[test]
    fn the_length_bound_is_on_the_whole_token() {
        // Pad with an ignored claim to exactly the bound, then one byte over.
        let at = |pad: usize| {
            let mut p = ok_payload();
            p["pad"] = json!("x".repeat(pad));
            signed(p)
        };
        let base = at(0).len();
        // Three payload bytes are four base64 characters.
        let mut pad = (IDENTITY_TOKEN_MAX - base) / 4 * 3;
        while at(pad + 1).len() <= IDENTITY_TOKEN_MAX {
            pad += 1;
        }
        assert!(at(pad).len() <= IDENTITY_TOKEN_MAX);
        assert!(check(&at(pad)).is_ok());
        assert!(at(pad + 1).len() > IDENTITY_TOKEN_MAX);
        assert_eq!(check(&at(pad + 1)), Err(IdentityError::TooLong));
    }

    #[test]
    fn payloads_must_be_objects_with_the_claims_typed_and_within_limits() {
        for p in ["[1]", "null", "\"user-42\"", "42", "{", ""] {
            assert_eq!(
                check(&forge("site-secret", IDENTITY_HEADER, p)),
                Err(IdentityError::BadPayload),
                "{p}"
            );
        }
        let attrs = |n: usize, k: usize, v: usize| {
            let m: serde_json::Map<String, serde_json::Value> = (0..n)
                .map(|i| (format!("{i:0>k$}"), json!("v".repeat(v))))
                .collect();
            serde_json::Value::Object(m)
        };
        // `v` as claim `k`; `None` leaves `k` out.
        let with = |k: &str, v: Option<serde_json::Value>| {
            let mut p = ok_payload();
            match v {
                Some(v) => p[k] = v,
                None => {
                    p.as_object_mut().unwrap().remove(k);
                }
            }
            check(&signed(p))
        };
        // At the limits: accepted.
        assert!(with("sub", Some(json!("s".repeat(128)))).is_ok());
        assert!(with("name", Some(json!("名".repeat(128)))).is_ok());
        assert!(with("attrs", Some(attrs(20, 2, 100))).is_ok());
        assert!(with("attrs", Some(attrs(1, 64, 256))).is_ok());
        assert!(with("attrs", Some(json!({}))).is_ok());
        assert!(with("iss", Some(json!(["ignored"]))).is_ok());
        // Past them, or mistyped: refused.
        for (k, v) in [
            ("sub", None),
            ("sub", Some(json!(""))),
            ("sub", Some(json!(42))),
            ("sub", Some(json!("s".repeat(129)))),
            ("name", Some(json!(7))),
            ("name", Some(json!(null))),
            ("name", Some(json!("名".repeat(129)))),
            ("attrs", Some(attrs(21, 2, 1))),
            ("attrs", Some(attrs(1, 65, 1))),
            ("attrs", Some(attrs(1, 2, 257))),
            ("attrs", Some(json!({"plan": 3}))),
            ("attrs", Some(json!({"plan": null}))),
            ("attrs", Some(json!(["plan"]))),
            ("attrs", Some(json!("plan=gold"))),
            ("exp", None),
            ("exp", Some(json!((NOW + 60).to_string()))),
            ("exp", Some(json!(NOW as f64 + 60.5))),
            ("iat", Some(json!("now"))),
            ("nbf", Some(json!(true))),
        ] {
            assert!(
                matches!(with(k, v.clone()), Err(IdentityError::BadClaim(_))),
                "{k}: {v:?}"
            );
        }
    }

    #[test]
    fn claims_for_signing_obey_the_same_limits() {
        let attr = |k: &str, v: &str| [(k.to_string(), v.to_string())];
        assert!(IdentityClaims::new("u", "", [], NOW, 0).is_err());
        assert!(IdentityClaims::new("u", "", [], NOW, -5).is_err());
        assert!(IdentityClaims::new("u", "", [], NOW, IDENTITY_TTL_MAX_SECS).is_ok());
        assert!(IdentityClaims::new("u", "", [], NOW, IDENTITY_TTL_MAX_SECS + 1).is_err());
        assert!(IdentityClaims::new("", "", [], NOW, 60).is_err());
        assert!(IdentityClaims::new("u", &"n".repeat(129), [], NOW, 60).is_err());
        assert!(IdentityClaims::new("u", "", attr(&"k".repeat(65), "v"), NOW, 60).is_err());
        assert!(IdentityClaims::new("u", "", attr("k", &"v".repeat(257)), NOW, 60).is_err());
        let many = (0..21).map(|i| (i.to_string(), String::new()));
        assert!(IdentityClaims::new("u", "", many, NOW, 60).is_err());
        // Each attribute within its limits, but together too long for one token.
        let big = |n: usize| (0..n).map(|i| (format!("{i:0>64}"), "v".repeat(256)));
        let fits = IdentityClaims::new("u", "", big(8), NOW, 60).unwrap();
        assert!(check(&sign_identity("site-secret", &fits)).is_ok());
        assert_eq!(
            IdentityClaims::new("u", "", big(20), NOW, 60),
            Err(IdentityError::TooLong)
        );
    }
}
