//! Configuration from the environment: where to listen, which issuer to trust, and the client
//! the guard follows the revocation feed as.

use std::fmt;
use std::net::SocketAddr;

use anyhow::{Context, bail};

#[derive(Debug)]
pub struct Config {
    /// `ORDERS_LISTEN`, default `127.0.0.1:8081`.
    pub listen: SocketAddr,
    /// `ORDERS_ISSUER`, default `http://127.0.0.1:8080`.
    pub issuer: String,
    /// `ORDERS_CLIENT_ID`: a confidential client of the issuer.
    pub client_id: String,
    /// `ORDERS_CLIENT_SECRET`.
    pub client_secret: Secret,
}

/// A secret that `Debug` does not print.
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    fn from_lookup(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let listen = var("ORDERS_LISTEN").unwrap_or_else(|| "127.0.0.1:8081".into());
        let listen = listen.parse().with_context(|| format!("ORDERS_LISTEN={listen:?} is not an address:port"))?;
        let issuer = var("ORDERS_ISSUER").unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let (Some(client_id), Some(client_secret)) = (var("ORDERS_CLIENT_ID"), var("ORDERS_CLIENT_SECRET")) else {
            bail!(
                "set ORDERS_CLIENT_ID and ORDERS_CLIENT_SECRET to a confidential client of the issuer: \
                 the guard follows the revocation feed with it"
            );
        };
        Ok(Self { listen, issuer, client_id, client_secret: Secret(client_secret) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_required_credentials() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| (*v).to_owned())
        };
        let c = Config::from_lookup(env(&[("ORDERS_CLIENT_ID", "pc_x"), ("ORDERS_CLIENT_SECRET", "s")])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert!(!format!("{c:?}").contains("\"s\""));
        assert!(Config::from_lookup(env(&[("ORDERS_CLIENT_ID", "pc_x")])).is_err());
        assert!(Config::from_lookup(env(&[("ORDERS_LISTEN", "nowhere")])).is_err());
    }
}
