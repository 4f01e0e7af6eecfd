//! `TlsFront`: TLS termination in front of a plain-HTTP server, as a reverse proxy does in
//! production, with the test certificate of `tests/fixtures/tls` (a leaf for `localhost` and
//! `127.0.0.1`, signed by `ca.crt`; valid until 2126).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The folder of the test certificates.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/tls")
}

/// The CA that signed the front's certificate: point `SSL_CERT_FILE` at it to trust the front.
pub fn ca_file() -> PathBuf {
    fixtures().join("ca.crt")
}

pub struct TlsFront {
    pub addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
}

impl TlsFront {
    /// Binds `127.0.0.1:0`; call [`TlsFront::relay_to`] once the upstream is known (the
    /// upstream's issuer must name this address before it starts).
    pub async fn bind() -> (TcpListener, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind TLS front");
        let addr = listener.local_addr().expect("front addr");
        (listener, addr)
    }

    /// Terminates TLS on `listener` and relays the plaintext to `upstream`.
    pub fn relay_to(listener: TcpListener, upstream: SocketAddr) -> Self {
        let addr = listener.local_addr().expect("front addr");
        let acceptor = TlsAcceptor::from(Arc::new(server_config()));
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to relay.
                    let Ok(mut client) = acceptor.accept(client).await else { return };
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self { addr, accept }
    }
}

fn server_config() -> ServerConfig {
    let chain = CertificateDer::pem_file_iter(fixtures().join("localhost.crt"))
        .expect("read localhost.crt")
        .collect::<Result<Vec<_>, _>>()
        .expect("parse localhost.crt");
    let key = PrivateKeyDer::from_pem_file(fixtures().join("localhost.key")).expect("read localhost.key");
    ServerConfig::builder().with_no_client_auth().with_single_cert(chain, key).expect("TLS server config")
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
