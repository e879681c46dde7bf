//! Remote downlinks over TLS.

use super::*;

/// A TLS-terminating proxy on loopback in front of `backend`, with the test certificate for
/// `localhost` and `127.0.0.1` (see `tests/tls`).
async fn tls_proxy(backend: SocketAddr) -> (SocketAddr, JoinHandle<()>) {
    use tokio_rustls::rustls::{self, pki_types::pem::PemObject};

    let certificates =
        rustls::pki_types::CertificateDer::pem_slice_iter(include_bytes!("../../tls/server.pem"))
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
    let key =
        rustls::pki_types::PrivateKeyDer::from_pem_slice(include_bytes!("../../tls/server.key"))
            .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust the certificate ends the handshake.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut plain = tokio::net::TcpStream::connect(backend).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downlinks_over_tls_trust_the_configured_roots_only() {
    use tidal::client::Client;
    use tidal::remote::{RemoteConfig, TlsConfig};

    let source = source_server("127.0.0.1:0".parse().unwrap()).await;
    let (proxy, proxy_task) = tls_proxy(source.server.bound_addr().unwrap()).await;
    let tls = TlsConfig::default()
        .add_root_certificates_pem(include_bytes!("../../tls/ca.pem"))
        .unwrap();
    let mut config = RemoteConfig::default();
    config.tls = tls;
    let client = Client::with_config(config);
    let log = Log::default();
    let (synced, event) = (log.clone(), log.clone());
    let mut value = client
        .value_downlink::<i64>(&format!("wss://{proxy}"), "/source/1", "value")
        .on_synced(move |v| synced.push(format!("synced {v}")))
        .on_event(move |v| event.push(format!("event {v}")))
        .open()
        .await
        .unwrap();
    log.wait_for("synced 0").await;
    value.set(6).unwrap();
    log.wait_for("event 6").await;
    // `warps://` is the WARP name of `wss://`; the certificate also names `localhost`.
    client
        .command(
            &format!("warps://localhost:{}", proxy.port()),
            "/source/1",
            "value",
            7i64,
        )
        .await
        .unwrap();
    log.wait_for("event 7").await;

    // Without the test authority among its roots, a client cannot connect: that is a
    // connection failure (retried, then given up), never an unlink.
    let mut config = RemoteConfig::default();
    config.initial_delay = Duration::from_millis(10);
    config.max_attempts = Some(2);
    let untrusting = Client::with_config(config);
    let (failed, unlinked) = (log.clone(), log.clone());
    let _refused = untrusting
        .value_downlink::<i64>(&format!("wss://{proxy}"), "/source/1", "value")
        .on_failed(move || failed.push("untrusted failed".into()))
        .on_unlinked(move || unlinked.push("untrusted unlinked".into()))
        .open()
        .await
        .unwrap();
    log.wait_for("untrusted failed").await;
    assert!(!log.contains("untrusted unlinked"), "{:?}", log.lines());
    value.stop();
    drop((client, untrusting));
    proxy_task.abort();
    source.stop().await;
}
