//! TLS with rustls (ring provider): the server side from a configured
//! certificate and key, the client side verifying against configured roots or
//! the system's.

use std::io::BufReader;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::{TlsConfig, TlsRoots};
use crate::error::Error;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_pem(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Tls(format!("{}: {e}", path.display())))
}

fn certs_from_pem(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let pem = read_pem(path)?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut BufReader::new(&pem[..])).collect();
    let certs = certs.map_err(|e| Error::Tls(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "{}: no certificate found",
            path.display()
        )));
    }
    Ok(certs)
}

/// The acceptor for serving TLS, when a certificate is configured.
pub(crate) fn acceptor(cfg: &TlsConfig) -> Result<Option<TlsAcceptor>, Error> {
    let (certs, key): (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) =
        match (&cfg.cert_der, &cfg.cert_file, &cfg.key_file) {
            (Some((chain, key)), _, _) => (
                chain
                    .iter()
                    .map(|c| CertificateDer::from(c.clone()))
                    .collect(),
                PrivateKeyDer::try_from(key.clone())
                    .map_err(|e| Error::Tls(format!("private key: {e}")))?,
            ),
            (None, Some(cert), Some(key)) => {
                let pem = read_pem(key)?;
                let key_der = rustls_pemfile::private_key(&mut BufReader::new(&pem[..]))
                    .map_err(|e| Error::Tls(format!("{}: {e}", key.display())))?
                    .ok_or_else(|| {
                        Error::Tls(format!("{}: no private key found", key.display()))
                    })?;
                (certs_from_pem(cert)?, key_der)
            }
            (None, Some(_), None) | (None, None, Some(_)) => {
                return Err(Error::Tls(
                    "cert_file and key_file must be given together".into(),
                ));
            }
            (None, None, None) => return Ok(None),
        };
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Tls(format!("certificate and key: {e}")))?;
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

/// The connector for TLS clients.
pub(crate) fn connector(cfg: &TlsConfig) -> Result<TlsConnector, Error> {
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.roots {
        TlsRoots::System => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A system certificate rustls cannot use is skipped, as
                // browsers do; the others still verify.
                let _ = roots.add(cert);
            }
        }
        TlsRoots::PemFile(path) => {
            for cert in certs_from_pem(path)? {
                roots
                    .add(cert)
                    .map_err(|e| Error::Tls(format!("{}: {e}", path.display())))?;
            }
        }
        TlsRoots::Der(certs) => {
            for cert in certs {
                roots
                    .add(CertificateDer::from(cert.clone()))
                    .map_err(|e| Error::Tls(format!("root certificate: {e}")))?;
            }
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
