//! TLS on the listener (`http.tls: {cert_file, key_file}`), for setups without a proxy in
//! front: rustls (the ring provider, TLS 1.2 and 1.3, ALPN h2 and http/1.1) served by
//! `axum-server`. The certificate chain and the key are PEM files read once at start-up; a file
//! that is missing, unreadable, empty or not what it should be is a start-up error naming it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::settings::TlsSettings;

/// How long in-flight requests get to finish once shutdown is asked for.
const DRAIN: Duration = Duration::from_secs(10);

/// The server configuration `settings` names, checked: the error names the file at fault.
pub fn load(settings: &TlsSettings) -> Result<Arc<ServerConfig>> {
    let certs = certificates(&settings.cert_file)?;
    let key = private_key(&settings.key_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("http.tls: the TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "http.tls: the key {} does not fit the certificate {}",
                settings.key_file.display(),
                settings.cert_file.display()
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .with_context(|| format!("http.tls.{what} {}: cannot read it", path.display()))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read(path, "cert_file")?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("http.tls.cert_file {}: not PEM", path.display()))?;
    if certs.is_empty() {
        bail!(
            "http.tls.cert_file {}: holds no PEM CERTIFICATE block",
            path.display()
        );
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let pem = read(path, "key_file")?;
    PrivateKeyDer::from_pem_slice(&pem).with_context(|| {
        format!(
            "http.tls.key_file {}: holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
            path.display()
        )
    })
}

/// Serves `app` over TLS on `addr` until `shutdown` (graceful, at most [`DRAIN`]); the peer
/// address reaches the middleware as with plain HTTP.
pub async fn serve(
    addr: SocketAddr,
    app: Router,
    config: Arc<ServerConfig>,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<()>)> {
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("listening on {addr}"))?;
    listener
        .set_nonblocking(true)
        .context("making the listener non-blocking")?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let handle = Handle::new();
    let server = axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(config))
        .context("serving TLS on the listener")?
        .handle(handle.clone());
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        let stop = async move {
            shutdown.cancelled().await;
            handle.graceful_shutdown(Some(DRAIN));
        };
        tokio::spawn(stop);
        if let Err(err) = server.serve(service).await {
            tracing::error!(error = %err, "the HTTPS server stopped");
        }
    });
    Ok((bound, task))
}
