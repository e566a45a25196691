//! Token tests: every way a link can be refused.

use jiff::{SignedDuration, Timestamp};

use super::keys::parse;
use super::token::{Claims, Key, Keyring, LinkDecision, LinkError};

fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn ring(id: &str, byte: u8) -> Keyring {
    Keyring::new(vec![Key::new(id, vec![byte; 32]).expect("key")]).expect("ring")
}

fn claims(decision: LinkDecision) -> Claims {
    let now = at("2026-12-01T10:00:00Z");
    Claims {
        incident: "inc-1".into(),
        plan_hash: "ab".repeat(32),
        decision,
        issued: now.as_second(),
        expires: (now + SignedDuration::from_mins(30)).as_second(),
        nonce: "00112233445566778899aabbccddeeff".into(),
        key_id: String::new(),
    }
}

const NOW: &str = "2026-12-01T10:05:00Z";

#[test]
fn a_signed_link_verifies_with_its_claims() {
    let keys = ring("k1", 7);
    let token = keys.sign(claims(LinkDecision::Approve));
    assert!(token.starts_with("v1."), "{token}");
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    );
    let got = keys
        .verify(&token, LinkDecision::Approve, at(NOW))
        .expect("valid");
    assert_eq!(got.incident, "inc-1");
    assert_eq!(got.key_id, "k1");
}

#[test]
fn a_link_signed_with_another_secret_is_a_bad_signature() {
    let ours = ring("k1", 7);
    let theirs = ring("k1", 8);
    let token = theirs.sign(claims(LinkDecision::Approve));
    assert_eq!(ours.open(&token), Err(LinkError::BadSignature));
}

#[test]
fn altered_claims_break_the_signature() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let keys = ring("k1", 7);
    let token = keys.sign(claims(LinkDecision::Deny));
    let parts: Vec<&str> = token.split('.').collect();
    let json = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("utf8");
    let changed = json.replace("\"deny\"", "\"approve\"");
    assert_ne!(json, changed);
    let forged = format!("v1.{}.{}", URL_SAFE_NO_PAD.encode(changed), parts[2]);
    assert_eq!(keys.open(&forged), Err(LinkError::BadSignature));
}

#[test]
fn a_key_id_the_server_does_not_hold_is_named() {
    let token = ring("old", 7).sign(claims(LinkDecision::Approve));
    assert_eq!(
        ring("new", 7).open(&token),
        Err(LinkError::UnknownKey("old".into()))
    );
}

#[test]
fn rotation_signs_with_the_first_key_and_verifies_with_any() {
    let old = ring("k1", 1);
    use base64::Engine as _;
    let e = base64::engine::general_purpose::STANDARD;
    // The new key first (it signs), the old one kept so links already sent still verify.
    let rotated = parse(
        &format!("k2:{}, k1:{}", e.encode([2u8; 32]), e.encode([1u8; 32])),
        "test",
    )
    .expect("keys");
    assert_eq!(rotated.signing_id(), "k2");
    let from_old = old.sign(claims(LinkDecision::Approve));
    assert!(
        rotated
            .verify(&from_old, LinkDecision::Approve, at(NOW))
            .is_ok()
    );
    let from_new = rotated.sign(claims(LinkDecision::Approve));
    assert_eq!(rotated.open(&from_new).expect("valid").key_id, "k2");
    assert_eq!(old.open(&from_new), Err(LinkError::UnknownKey("k2".into())));
}

#[test]
fn truncated_and_garbage_tokens_are_malformed() {
    let keys = ring("k1", 7);
    let token = keys.sign(claims(LinkDecision::Approve));
    for bad in [
        token[..token.len() - 5].to_owned(),
        token[..token.rfind('.').expect("dot")].to_owned(),
        String::new(),
        "garbage".into(),
        "v1.!!!.???".into(),
        "v2.e30.AAAA".into(),
        format!("{token}.extra"),
        "x".repeat(5000),
    ] {
        match keys.open(&bad) {
            Err(LinkError::Malformed(_) | LinkError::BadSignature) => {}
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
    // Valid base64 and JSON without a key id.
    assert!(matches!(
        keys.open("v1.e30.AAAA"),
        Err(LinkError::Malformed(_))
    ));
}

#[test]
fn an_expired_link_is_refused_with_its_claims_for_escalation() {
    let keys = ring("k1", 7);
    let token = keys.sign(claims(LinkDecision::Approve));
    match keys.verify(&token, LinkDecision::Approve, at("2026-12-01T10:30:00Z")) {
        Err(LinkError::Expired {
            at: when,
            claims: c,
        }) => {
            assert_eq!(when, at("2026-12-01T10:30:00Z"));
            assert_eq!(c.incident, "inc-1");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_deny_link_cannot_approve() {
    let keys = ring("k1", 7);
    let token = keys.sign(claims(LinkDecision::Deny));
    assert!(matches!(
        keys.verify(&token, LinkDecision::Approve, at(NOW)),
        Err(LinkError::WrongDecision {
            wanted: "approve",
            actual: "deny"
        })
    ));
}

#[test]
fn the_form_field_is_bound_to_token_and_caller() {
    let keys = ring("k1", 7);
    let a = keys.sign(claims(LinkDecision::Approve));
    let mut other = claims(LinkDecision::Approve);
    other.nonce = "ffffffffffffffffffffffffffffffff".into();
    let b = keys.sign(other);
    let field = keys.form_field(&a, "alice");
    assert!(keys.check_form_field(&a, "alice", &field));
    assert!(!keys.check_form_field(&a, "mallory", &field));
    assert!(!keys.check_form_field(&b, "alice", &field));
    assert!(!keys.check_form_field(&a, "alice", ""));
    assert!(!keys.check_form_field(&a, "alice", "not base64!"));
    assert!(!ring("k1", 8).check_form_field(&a, "alice", &field));
}

#[test]
fn key_files_name_the_line_and_never_print_a_secret() {
    let err = parse("# comment\nk1:c2hvcnQ", "keys.txt").expect_err("short");
    assert!(err.contains("keys.txt line 2"), "{err}");
    assert!(err.contains("at least 32"), "{err}");
    let err = parse("nocolonsecretvalue", "keys.txt").expect_err("no colon");
    assert!(err.contains("expected id:secret"), "{err}");
    assert!(!err.contains("secretvalue"), "{err}");
    let err = parse("", "keys.txt").expect_err("empty");
    assert!(err.contains("no link-signing key"), "{err}");
    use base64::Engine as _;
    let s = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let err = parse(&format!("k1:{s}\nk1:{s}"), "keys.txt").expect_err("dup");
    assert!(err.contains("two link-signing keys"), "{err}");
    let err = parse(&format!("bad id:{s}"), "keys.txt").expect_err("id");
    assert!(
        err.contains("expected id:secret") || err.contains("key id"),
        "{err}"
    );
}

#[test]
fn a_generated_key_is_kept_private_and_read_back() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join(super::keys::GENERATED_FILE);
    let (first, source) = super::keys::kept_or_generated(&path).expect("generated");
    assert!(matches!(source, super::KeySource::Generated(_)));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (again, source) = super::keys::kept_or_generated(&path).expect("kept");
    assert!(matches!(source, super::KeySource::Kept(_)));
    assert_eq!(first.ids(), again.ids());
    let token = first.sign(claims(LinkDecision::Approve));
    assert!(again.open(&token).is_ok());
}
