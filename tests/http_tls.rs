//! TLS on the listener: a self-signed certificate made in the test, the front door served with
//! it, a client that trusts that certificate gets its answer, a client that does not is refused
//! at the handshake, plain HTTP to the TLS port gets no HTTP answer, and bad certificate or key
//! files are start-up errors naming the file.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use nightshift::http::TlsSettings;
use nightshift::http::health::{self, Health};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

const REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// A self-signed certificate for `localhost` written as PEM files: (settings, its DER).
fn certificate(dir: &Path) -> (TlsSettings, CertificateDer<'static>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
    let settings = TlsSettings {
        cert_file: dir.join("tls.crt"),
        key_file: dir.join("tls.key"),
    };
    std::fs::write(&settings.cert_file, made.cert.pem()).expect("write the certificate");
    std::fs::write(&settings.key_file, made.key_pair.serialize_pem()).expect("write the key");
    (settings, made.cert.der().clone())
}

async fn serve(settings: &TlsSettings, stop: CancellationToken) -> SocketAddr {
    let config = nightshift::http::tls::load(settings).expect("the certificate loads");
    let app = health::router(Health {
        synced: Default::default(),
        draining: stop.clone(),
    });
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let (addr, _task) = nightshift::http::tls::serve(loopback, app, config, stop)
        .await
        .expect("serving");
    addr
}

fn client(roots: RootCertStore) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn a_client_trusting_the_certificate_is_answered_over_tls_and_plain_http_is_not() {
    let dir = tempfile::tempdir().expect("tmp");
    let (settings, der) = certificate(dir.path());
    let stop = CancellationToken::new();
    let addr = serve(&settings, stop.clone()).await;
    let mut roots = RootCertStore::empty();
    roots.add(der).expect("trust the certificate");
    let name = ServerName::try_from("localhost").expect("name");
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut tls = client(roots)
        .connect(name.clone(), tcp)
        .await
        .expect("the handshake succeeds with the trusted certificate");
    tls.write_all(REQUEST).await.expect("request");
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await.expect("answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok\n"), "{answer}");

    // A client that does not trust it is refused at the handshake.
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let refused = client(RootCertStore::empty()).connect(name, tcp).await;
    assert!(refused.is_err(), "an untrusted certificate was accepted");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(addr).await.expect("connect");
    plain.write_all(REQUEST).await.expect("request");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP was answered: {}",
        String::from_utf8_lossy(&answer)
    );
    stop.cancel();
}

#[test]
fn missing_or_wrong_certificate_and_key_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let (good, _) = certificate(dir.path());
    let error = |settings: &TlsSettings| {
        format!(
            "{:#}",
            nightshift::http::tls::load(settings).expect_err("refused")
        )
    };
    let missing = TlsSettings {
        cert_file: dir.path().join("nope.crt"),
        ..good.clone()
    };
    let message = error(&missing);
    assert!(message.contains("http.tls.cert_file"), "{message}");
    assert!(message.contains("nope.crt"), "{message}");

    let garbage = dir.path().join("garbage.key");
    std::fs::write(&garbage, "not a key\n").expect("write");
    let message = error(&TlsSettings {
        key_file: garbage,
        ..good.clone()
    });
    assert!(message.contains("http.tls.key_file"), "{message}");
    assert!(message.contains("garbage.key"), "{message}");

    // The key given as the certificate: no CERTIFICATE block in it.
    let message = error(&TlsSettings {
        cert_file: good.key_file.clone(),
        ..good.clone()
    });
    assert!(message.contains("http.tls.cert_file"), "{message}");
    assert!(message.contains("tls.key"), "{message}");

    // Another certificate's key does not fit.
    let other = tempfile::tempdir().expect("tmp");
    let (foreign, _) = certificate(other.path());
    let message = error(&TlsSettings {
        key_file: foreign.key_file,
        ..good
    });
    assert!(message.contains("does not fit"), "{message}");
}
