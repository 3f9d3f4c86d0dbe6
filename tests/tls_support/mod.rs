//! Shared helpers of the TLS tests: test certificates made with
//! `openssl` (Debian package `openssl`) in a temporary directory, and the
//! Python HTTPS sink (tests/python/tls_sink.py).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}): install the Debian package `openssl`")
        });
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A temporary directory of test TLS material made with `openssl`: a CA
/// (`ca.pem`, `ca.key`) and a server certificate for 127.0.0.1 signed by
/// it (`server.pem`, `server.key`); [`Pki::with_clients`] adds a client
/// certificate from the same CA (`client.pem`, `client.key`) and one from
/// another CA (`rogue.pem`, `rogue.key`). Removed on drop.
pub struct Pki(pub PathBuf);

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Pki {
    /// The CA and the server certificate; `tag` names the directory.
    pub fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "fm-tls-{tag}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Pki(dir);
        pki.ca("ca");
        pki.leaf(
            "server",
            "ca",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        );
        pki
    }

    /// As [`Pki::new`], plus the client certificates `client` (same CA)
    /// and `rogue` (from `rogue-ca`).
    pub fn with_clients(tag: &str) -> Pki {
        let pki = Pki::new(tag);
        pki.ca("rogue-ca");
        pki.leaf("client", "ca", "extendedKeyUsage=clientAuth\n");
        pki.leaf("rogue", "rogue-ca", "extendedKeyUsage=clientAuth\n");
        pki
    }

    pub fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }

    /// A self-signed CA `{name}.pem` / `{name}.key`.
    pub fn ca(&self, name: &str) {
        self.new_key(
            name,
            &[
                "-x509",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-subj",
                &format!("/CN=ferrometer test {name}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }

    /// `openssl req` with a new P-256 key `{name}.key` (unencrypted) and
    /// the further arguments `args` (what to make of it).
    fn new_key(&self, name: &str, args: &[&str]) {
        let key = format!("{name}.key");
        let mut all = vec![
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
        ];
        all.extend_from_slice(args);
        openssl(&self.0, &all);
    }

    /// A certificate `{name}.pem` / `{name}.key` signed by the CA `ca`,
    /// with the extensions `ext` (one per line).
    pub fn leaf(&self, name: &str, ca: &str, ext: &str) {
        self.new_key(
            name,
            &[
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        let cnf = format!("{name}.cnf");
        std::fs::write(
            self.0.join(&cnf),
            format!("basicConstraints=CA:FALSE\n{ext}"),
        )
        .unwrap();
        openssl(
            &self.0,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                &cnf,
            ],
        );
    }
}

/// The HTTPS sink of tests/python/tls_sink.py on 127.0.0.1, serving the
/// server certificate of a [`Pki`]; it prints one line per request
/// (`METHOD PATH CONTENT-TYPE BODY-LENGTH`). Killed on drop.
pub struct TlsSink {
    child: Child,
    out: BufReader<ChildStdout>,
    pub port: u16,
}

impl TlsSink {
    pub fn start(pki: &Pki) -> TlsSink {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/tls_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(pki.path("server.pem"))
            .arg(pki.path("server.key"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 for the HTTPS sink");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let port = line.trim().parse().expect("sink port");
        TlsSink { child, out, port }
    }
    /// The next request line the sink printed.
    pub fn next_request(&mut self) -> String {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }
}

impl Drop for TlsSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
