//! Test certificates made with rcgen: a CA, a server certificate it signed
//! (for `localhost` only by default, so `https://127.0.0.1` is a name
//! mismatch), and a
//! client certificate it signed (mTLS), as PEM files in a directory
//! removed on drop.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    /// The server certificate names `localhost` only.
    pub fn new() -> Pki {
        Pki::for_names(&["localhost"])
    }

    /// The server certificate names `names` (DNS names or IP addresses).
    pub fn for_names(names: &[&str]) -> Pki {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "percore-pki-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "percore test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca: Certificate = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(vec!["percore-client".to_string()]).unwrap();
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        client_params
            .distinguished_name
            .push(DnType::CommonName, "percore-client");
        let client = client_params.signed_by(&client_key, &ca, &ca_key).unwrap();
        let files = [
            ("ca.pem", ca.pem()),
            ("cert.pem", cert.pem()),
            ("key.pem", key.serialize_pem()),
            ("client.pem", client.pem()),
            ("client-key.pem", client_key.serialize_pem()),
        ];
        for (name, pem) in files {
            std::fs::write(dir.join(name), pem).unwrap();
        }
        Pki { dir }
    }

    /// The path of one of the files: `ca.pem`, `cert.pem`, `key.pem`,
    /// `client.pem`, `client-key.pem`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The CA's certificate (`ca.pem`).
    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// The server's certificate (`cert.pem`).
    pub fn cert(&self) -> PathBuf {
        self.path("cert.pem")
    }

    /// The server's key (`key.pem`).
    pub fn key(&self) -> PathBuf {
        self.path("key.pem")
    }

    /// The contents of one of the files.
    pub fn pem(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
