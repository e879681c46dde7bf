//! TLS for `wss://` (and `warps://`) hosts: which server certificates are trusted.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// Which certificates a `wss://` host may present: by default those issued by the Mozilla
/// root authorities (built in, from `webpki-roots`), plus any roots added here, for example a
/// private certificate authority.
///
/// Connections use TLS 1.2 or 1.3 through rustls; the host's certificate must be valid for the
/// name (or IP address) in the host string.
///
/// ```
/// use tidal_runtime::remote::{RemoteConfig, TlsConfig};
///
/// # fn main() -> Result<(), tidal_runtime::remote::TlsError> {
/// # let pem = include_bytes!("../../../tests/tls/ca.pem");
/// let mut config = RemoteConfig::default();
/// config.tls = TlsConfig::default().add_root_certificates_pem(pem)?;
/// # let _ = config;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    built_in_roots: bool,
    extra_roots: Vec<CertificateDer<'static>>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            built_in_roots: true,
            extra_roots: Vec::new(),
        }
    }
}

/// A root certificate that could not be added to a [`TlsConfig`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The PEM text does not parse.
    #[error("bad PEM text: {0}")]
    Pem(#[source] rustls_pki_types::pem::Error),
    /// The PEM text has no `CERTIFICATE` section.
    #[error("the PEM text has no CERTIFICATE section")]
    NoCertificates,
    /// The certificate cannot serve as a root.
    #[error("not a usable root certificate: {0}")]
    BadCertificate(#[source] rustls::Error),
}

impl TlsConfig {
    /// Also trusts every certificate in `pem` (one or more `BEGIN CERTIFICATE` sections) as
    /// a root.
    ///
    /// # Errors
    /// If the text does not parse, has no certificate, or a certificate cannot be a root.
    pub fn add_root_certificates_pem(mut self, pem: &[u8]) -> Result<Self, TlsError> {
        let mut found = false;
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate = certificate.map_err(TlsError::Pem)?;
            self = self.add_root_certificate_der(certificate.to_vec())?;
            found = true;
        }
        if found {
            Ok(self)
        } else {
            Err(TlsError::NoCertificates)
        }
    }

    /// Also trusts the DER-encoded certificate `der` as a root.
    ///
    /// # Errors
    /// If `der` cannot serve as a root certificate.
    pub fn add_root_certificate_der(mut self, der: Vec<u8>) -> Result<Self, TlsError> {
        let certificate = CertificateDer::from(der);
        RootCertStore::empty()
            .add(certificate.clone())
            .map_err(TlsError::BadCertificate)?;
        self.extra_roots.push(certificate);
        Ok(self)
    }

    /// Trusts only the roots added to this configuration, not the built-in ones.
    pub fn without_built_in_roots(mut self) -> Self {
        self.built_in_roots = false;
        self
    }

    /// The rustls configuration of a connection.
    pub(crate) fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        if self.built_in_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for certificate in &self.extra_roots {
            // Checked when it was added.
            let _ = roots.add(certificate.clone());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_come_from_pem_text_and_bad_text_is_refused() {
        let pem = include_bytes!("../../../tests/tls/ca.pem");
        let config = TlsConfig::default().add_root_certificates_pem(pem).unwrap();
        assert_eq!(config.extra_roots.len(), 1);
        assert!(matches!(
            TlsConfig::default().add_root_certificates_pem(b"no pem here"),
            Err(TlsError::NoCertificates)
        ));
        let truncated = &pem[..pem.len() / 2];
        assert!(TlsConfig::default()
            .add_root_certificates_pem(truncated)
            .is_err());
        assert!(matches!(
            TlsConfig::default().add_root_certificate_der(vec![1, 2, 3]),
            Err(TlsError::BadCertificate(_))
        ));
        // Both kinds of configuration build.
        config.client_config();
        config.without_built_in_roots().client_config();
    }
}
