use std::collections::BTreeMap;

use super::{argv, env_value, is_secret_name, map, text};
use crate::domain::evidence::{AlertFacts, Evidence, Facts};

fn hides(input: &str, secret: &str) -> String {
    let out = text(input);
    assert!(!out.contains(secret), "{secret:?} survived in {out:?}");
    assert_eq!(text(&out), out, "masking is not idempotent on {out:?}");
    out
}

#[test]
fn underscore_joined_secret_names_are_masked_in_free_text() {
    assert_eq!(
        hides("PGPASSWORD=Xq7pw psql -h db", "Xq7pw"),
        "PGPASSWORD=<redacted> psql -h db"
    );
    assert_eq!(
        hides("export DB_PASSWORD=Xq7pw", "Xq7pw"),
        "export DB_PASSWORD=<redacted>"
    );
    assert_eq!(
        hides(
            "aws_secret_access_key = wJalrXUtnFEMIK7MDENG",
            "wJalrXUtnFEMI"
        ),
        "aws_secret_access_key = <redacted>"
    );
    hides("-Dspring.datasource.password=Xq7pw", "Xq7pw");
    hides("X-Api-Key: Xq7pwXq7pw", "Xq7pw");
}

#[test]
fn url_passwords_are_masked_and_the_host_survives() {
    assert_eq!(
        hides("dial redis://:Xq7pw@cache:6379/0 failed", "Xq7pw"),
        "dial redis://:<redacted>@cache:6379/0 failed"
    );
    assert_eq!(
        hides("postgres://app:p@ss@Xq7@db.shop:5432/pay", "Xq7"),
        "postgres://app:<redacted>@db.shop:5432/pay"
    );
    assert_eq!(
        hides("postgres://app:Xq7/pw@db.shop:5432/pay", "Xq7"),
        "postgres://app:<redacted>@db.shop:5432/pay"
    );
    assert_eq!(text("http://db:5432/x?u=a@b"), "http://db:5432/x?u=a@b");
    assert_eq!(
        hides(r#"{\"authorization\":\"Basic Xq7pwXq7pw\"}"#, "Xq7pw"),
        r#"{\"authorization\":\"Basic <redacted>\"}"#
    );
}

#[test]
fn token_formats_are_masked_by_their_shape() {
    for secret in [
        "ghp_Xq7pwXq7pwXq7pwXq7pwXq7pwXq7pwXq7p",
        "github_pat_11AXq7pwXq7pwXq7pw_Xq7pwXq7pwXq7pwXq7pw",
        "xoxb-1234567890-Xq7pwXq7pwXq7pw",
        "xoxp-1234567890-Xq7pwXq7pwXq7pw",
        "AKIAXQ7PWXQ7PWXQ7PWX",
        "glpat-Xq7pwXq7pwXq7pwXq7pw",
        "sk_live_Xq7pwXq7pwXq7pwXq7pw",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4cTdwdyJ9.Xq7pwXq7pwXq7pwSig",
    ] {
        hides(&format!("using {secret} now"), secret);
    }
    assert_eq!(
        hides("Authorization: Bearer Xq7pwXq7pwXq7pw", "Xq7pw"),
        "Authorization: Bearer <redacted>"
    );
    assert_eq!(
        hides("Authorization: Basic dXNlcjpYcTdwdw==", "dXNlcjpYcTdwdw"),
        "Authorization: Basic <redacted>"
    );
    hides("Cookie: session=Xq7pw; theme=dark", "Xq7pw");
}

#[test]
fn json_logs_keep_their_keys_and_lose_their_values() {
    assert_eq!(
        hides(
            r#"{"level":"info","password":"Xq7 pw","user":"app"}"#,
            "Xq7"
        ),
        r#"{"level":"info","password":"<redacted>","user":"app"}"#
    );
    assert_eq!(
        hides(r#"{"msg":"cfg {\"api_key\":\"Xq7pw\"}"}"#, "Xq7pw"),
        r#"{"msg":"cfg {\"api_key\":\"<redacted>\"}"}"#
    );
    assert_eq!(text(r#"{"password":""}"#), r#"{"password":""}"#);
    // A JSON log whose message is JSON holding escaped JSON: the quotes are escaped twice.
    assert_eq!(
        hides(
            r#"{"msg":"{"m":"cfg {\"client_secret\":\"Xq7pw\"}"}"}"#,
            "Xq7pw"
        ),
        r#"{"msg":"{"m":"cfg {\"client_secret\":\"<redacted>\"}"}"}"#
    );
}

#[test]
fn private_keys_go_whole_across_lines_and_inside_json_strings() {
    let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nXq7pwXq7pw==\n-----END OPENSSH PRIVATE KEY-----";
    assert_eq!(
        hides(&format!("key:\n{pem}\ndone"), "Xq7pw"),
        "key:\n<redacted-private-key>\ndone"
    );
    let json = r#"{"key":"-----BEGIN PRIVATE KEY-----\nMIIEXq7pw\n-----END PRIVATE KEY-----\n"}"#;
    assert_eq!(
        hides(json, "MIIEXq7pw"),
        r#"{"key":"<redacted-private-key>\n"}"#
    );
}

#[test]
fn the_pieces_of_a_cut_private_key_are_masked() {
    let full = format!("MIIEXq7pw{}", "A".repeat(55));
    let head_cut =
        format!("starting\n{full}\n{full}\nQm9keUJvZHk=\n-----END EC PRIVATE KEY-----\nexit 1");
    assert_eq!(
        hides(&head_cut, "Xq7pw"),
        "starting\n<redacted-private-key>\nexit 1"
    );
    let tail_cut = "loading\n-----BEGIN RSA PRIVATE KEY-----\nMIIEXq7pwXq7pwXq7pw\nQm9keUJvZHk";
    assert_eq!(hides(tail_cut, "Xq7pw"), "loading\n<redacted-private-key>");
}

#[test]
fn base64_wrapped_credentials_and_keys_are_masked() {
    // base64 of `{"password":"Xq7pw"}` and of `postgres://app:Xq7pw@db/x`.
    hides(
        "config=eyJwYXNzd29yZCI6IlhxN3B3In0= loaded",
        "eyJwYXNzd29yZCI6",
    );
    hides(
        "DATABASE_URL: cG9zdGdyZXM6Ly9hcHA6WHE3cHdAZGIveA==",
        "cG9zdGdyZXM6",
    );
    // base64 of a PEM private key, as `kubectl get secret -o yaml` prints `tls.key`.
    let out = hides(
        "tls.key: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUVYcTdwdwotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg==",
        "LS0tLS1CRUdJTi",
    );
    assert_eq!(out, "tls.key: <redacted-private-key>");
    // base64 that hides nothing stays.
    assert_eq!(
        text("image sha256:aGVsbG8gd29ybGQgaGVsbG8="),
        "image sha256:aGVsbG8gd29ybGQgaGVsbG8="
    );
}

#[test]
fn the_value_after_a_secret_named_flag_is_masked() {
    let args: Vec<String> = [
        "--db-password",
        "Xq7pw",
        "--port",
        "8080",
        "--password-file",
        "/run/pw",
    ]
    .map(str::to_owned)
    .to_vec();
    assert_eq!(
        argv(&args),
        vec![
            "--db-password",
            "<redacted>",
            "--port",
            "8080",
            "--password-file",
            "/run/pw"
        ]
    );
    let shell: Vec<String> = [
        "sh",
        "-c",
        "PGPASSWORD=Xq7pw psql && mysql --password Xq7pw2 -h db",
    ]
    .map(str::to_owned)
    .to_vec();
    let out = argv(&shell).join(" ");
    assert!(!out.contains("Xq7pw"), "{out}");
    assert!(
        out.contains("PGPASSWORD=<redacted>") && out.contains("-h db"),
        "{out}"
    );
    assert_eq!(
        hides(
            "kubectl set env deploy/api DB_PASSWORD=Xq7pw --record",
            "Xq7pw"
        ),
        "kubectl set env deploy/api DB_PASSWORD=<redacted> --record"
    );
    assert_eq!(
        hides("run --token Xq7pw --v 2", "Xq7pw"),
        "run --token <redacted> --v 2"
    );
    assert_eq!(
        hides("mysqldump -h db -uroot -pXq7pw shop", "Xq7pw"),
        "mysqldump -h db -uroot -p<redacted> shop"
    );
    assert_eq!(text("docker run -p8080:80 web"), "docker run -p8080:80 web");
}

#[test]
fn what_a_diagnosis_needs_survives() {
    for line in [
        "Error: connect ECONNREFUSED 10.0.0.7:5432",
        "java.lang.OutOfMemoryError: Java heap space",
        "FATAL: password authentication failed for user \"app\"",
        "panic: runtime error: invalid memory address or nil pointer dereference",
        "Error: secret \"payments-db\" not found",
        "couldn't find key password in Secret shop/payments-db",
        "Back-off restarting failed container api in pod api-7d9 (exit code 137)",
        "secretName: payments-db",
        "dial tcp: lookup postgres.shop.svc.cluster.local: no such host",
        "UnhandledPromiseRejection: TypeError: Cannot read properties of undefined",
        "config error: DB_PASSWORD: required",
        "auth: token: expired, password=***",
    ] {
        assert_eq!(text(line), line);
    }
    assert!(text("mongodb://app:Xq7pw@mongo-0.mongo:27017").contains("@mongo-0.mongo:27017"));
}

#[test]
fn secret_named_env_values_are_masked_whatever_they_look_like() {
    for name in [
        "DB_PASSWORD",
        "api_key",
        "STRIPE_SECRET",
        "GITHUB_TOKEN",
        "SIGNING_KEY",
        "PGPASSWORD",
    ] {
        assert_eq!(env_value(name, "plain-value"), "<redacted>", "{name}");
        assert!(is_secret_name(name), "{name}");
    }
    assert_eq!(
        env_value("DB_PASSWORD", ""),
        "",
        "an empty value hides nothing"
    );
    assert_eq!(
        env_value("DB_PASSWORD_FILE", "/run/secrets/db"),
        "/run/secrets/db"
    );
    assert_eq!(env_value("LOG_LEVEL", "debug"), "debug");
    assert_eq!(
        env_value("DATABASE_URL", "postgres://app:s3cr3t@db:5432/pay"),
        "postgres://app:<redacted>@db:5432/pay"
    );
}

#[test]
fn label_and_annotation_maps_mask_by_name_and_by_content() {
    let mut labels = BTreeMap::from([
        ("alertname".to_owned(), "KubePodCrashLooping".to_owned()),
        ("secret".to_owned(), "payments-db".to_owned()),
        ("token".to_owned(), "Xq7pw".to_owned()),
        (
            "description".to_owned(),
            "pod says password=Xq7pw".to_owned(),
        ),
    ]);
    map(&mut labels);
    assert_eq!(labels["alertname"], "KubePodCrashLooping");
    assert_eq!(labels["secret"], "payments-db");
    assert_eq!(labels["token"], "<redacted>");
    assert_eq!(labels["description"], "pod says password=<redacted>");
}

#[test]
fn evidence_is_masked_as_it_is_pushed_ids_included() {
    let mut evidence = Evidence::default();
    let alert = AlertFacts {
        alertname: "DbDown password=Xq7pw".into(),
        status: "firing".into(),
        labels: BTreeMap::from([("api_key".to_owned(), "Xq7pw".to_owned())]),
        annotations: BTreeMap::from([(
            "description".to_owned(),
            "-----BEGIN PRIVATE KEY-----\nXq7pw\n-----END PRIVATE KEY-----".to_owned(),
        )]),
        starts_at: None,
    };
    evidence.push("alert/DbDown password=Xq7pw/f00d", Facts::Alert(alert));
    let json = serde_json::to_string(&evidence).expect("json");
    assert!(!json.contains("Xq7pw"), "{json}");
    let id = &evidence.items[0].id;
    assert!(id.starts_with("alert/DbDown password=<redacted>"), "{id}");
}
