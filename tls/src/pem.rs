//! Reading certificates and keys from PEM text or files.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Every certificate in `pem`; an error if there is none.
pub(crate) fn certs(pem: &[u8]) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("bad certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid("no certificate in the PEM data"));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in `pem`.
pub(crate) fn private_key(pem: &[u8]) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| invalid(format!("bad private key PEM: {e}")))
}

/// A certificate chain and its key, checked to belong together.
pub(crate) fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> io::Result<Arc<CertifiedKey>> {
    let key = CertifiedKey::from_der(certs(cert_pem)?, private_key(key_pem)?, provider)
        .map_err(|e| invalid(format!("certificate and key: {e}")))?;
    Ok(Arc::new(key))
}

/// [`certified_key`] from two files, naming them in errors.
pub(crate) fn certified_key_files(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> io::Result<Arc<CertifiedKey>> {
    certified_key(&read_file(cert)?, &read_file(key)?, provider).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{} / {}: {e}", cert.display(), key.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_garbage_pem_is_an_error_not_a_panic() {
        assert!(certs(b"").is_err());
        assert!(certs(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").is_err());
        assert!(private_key(b"no key here").is_err());
        let provider = crate::provider();
        assert!(certified_key(b"x", b"y", &provider).is_err());
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let err = read_file(Path::new("/nonexistent/cert.pem")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
    }
}
