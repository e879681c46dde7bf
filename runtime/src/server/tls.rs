//! TLS on the server's port: `wss://` for WARP and `https://` for HTTP lanes, with a
//! certificate that can be replaced while the server runs.

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// The certificate chain and private key a TLS server presents (TLS 1.2 and 1.3, through
/// rustls with the ring provider).
///
/// ```
/// use tidal_runtime::server::ServerTlsConfig;
///
/// # fn main() -> Result<(), tidal_runtime::server::ServerTlsError> {
/// # let chain = include_bytes!("../../../tests/tls/server.pem");
/// # let key = include_bytes!("../../../tests/tls/server.key");
/// let tls = ServerTlsConfig::from_pem(chain, key)?;
/// # let _ = tls;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ServerTlsConfig {
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for ServerTlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTlsConfig").finish_non_exhaustive()
    }
}

/// Why a certificate and key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerTlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The PEM text of the chain or key does not parse.
    #[error("bad PEM text in the {what}: {source}")]
    Pem {
        /// `certificate chain` or `private key`.
        what: &'static str,
        /// Why.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The chain has no certificate.
    #[error("the certificate chain has no CERTIFICATE section")]
    NoCertificates,
    /// rustls refuses the chain and key (e.g. the key does not match the certificate).
    #[error("the certificate and key cannot be used: {0}")]
    Rejected(#[source] rustls::Error),
    /// The server was built without TLS, so there is no certificate to replace.
    #[error("the server was built without TLS")]
    NotTls,
}

impl ServerTlsConfig {
    /// A configuration from PEM text: the certificate chain (the server's certificate first)
    /// and its private key (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    /// If either does not parse, the chain is empty, or rustls refuses them.
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<Self, ServerTlsError> {
        let chain = CertificateDer::pem_slice_iter(chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| ServerTlsError::Pem {
                what: "certificate chain",
                source,
            })?;
        if chain.is_empty() {
            return Err(ServerTlsError::NoCertificates);
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|source| ServerTlsError::Pem {
            what: "private key",
            source,
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(ServerTlsError::Rejected)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(ServerTlsError::Rejected)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTlsConfig {
            config: Arc::new(config),
        })
    }

    /// A configuration from PEM files (see [`from_pem`](Self::from_pem)).
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem), and if a file cannot be read.
    pub fn from_pem_files(
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, ServerTlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| ServerTlsError::Read {
                path: path.display().to_string(),
                source,
            })
        };
        Self::from_pem(&read(chain.as_ref())?, &read(key.as_ref())?)
    }
}

/// The TLS configuration of a running server: read once per connection, replaced by
/// `ServerHandle::reload_tls` (connections already open keep theirs).
#[derive(Clone)]
pub(crate) struct Certificates {
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

impl Certificates {
    pub(crate) fn new(config: ServerTlsConfig) -> Self {
        Certificates {
            current: Arc::new(RwLock::new(config.config)),
        }
    }

    /// The acceptor for a new connection.
    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let config = match self.current.read() {
            Ok(config) => config.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        tokio_rustls::TlsAcceptor::from(config)
    }

    /// Presents `config` to the connections from now on.
    pub(crate) fn replace(&self, config: ServerTlsConfig) {
        match self.current.write() {
            Ok(mut current) => *current = config.config,
            Err(poisoned) => *poisoned.into_inner() = config.config,
        }
    }
}
