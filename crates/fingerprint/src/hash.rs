//! The fingerprint hash: what a token's `dfp` claim carries.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::UserAgentFamilies;

/// Version tag mixed into every fingerprint; bumping it logs every device out.
pub const VERSION: &str = "pcfp1";

/// base64url(SHA-256(version, device id, browser, OS and device family)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn compute(device_id: &str, families: &UserAgentFamilies) -> Self {
        let mut h = Sha256::new();
        // Length-prefix every field so that no two inputs can collide by shifting bytes.
        for part in [VERSION, device_id, &families.browser, &families.os, &families.device] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        Self(URL_SAFE_NO_PAD.encode(h.finalize()))
    }

    /// The fingerprint of a request: its device id and its User-Agent header.
    pub fn of_request(device_id: &str, user_agent: Option<&str>) -> Self {
        Self::compute(device_id, &UserAgentFamilies::parse(user_agent))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn is_base64url_sha256() {
        let f = Fingerprint::compute("dev", &UserAgentFamilies::other());
        assert_eq!(f.as_str().len(), 43);
        assert!(!f.as_str().contains(['+', '/', '=']));
    }

    proptest! {
        #[test]
        fn device_id_always_matters(a in "[a-zA-Z0-9-]{1,40}", b in "[a-zA-Z0-9-]{1,40}") {
            let fams = UserAgentFamilies::other();
            prop_assert_eq!(a == b, Fingerprint::compute(&a, &fams) == Fingerprint::compute(&b, &fams));
        }

        #[test]
        fn fields_do_not_run_into_each_other(x in "[a-z]{0,8}", y in "[a-z]{0,8}") {
            let f1 = UserAgentFamilies { browser: format!("{x}{y}"), os: "o".into(), device: "d".into() };
            let f2 = UserAgentFamilies { browser: x.clone(), os: format!("{y}o"), device: "d".into() };
            prop_assume!(!y.is_empty());
            prop_assert_ne!(Fingerprint::compute("id", &f1), Fingerprint::compute("id", &f2));
        }
    }
}
