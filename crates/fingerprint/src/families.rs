//! User-Agent parsing down to the three families that enter a fingerprint.

use std::sync::LazyLock;

use uaparser::{Parser, UserAgentParser};

/// Longest User-Agent prefix that is parsed; the rest is ignored. Real ones are < 512 bytes.
pub const MAX_USER_AGENT_LEN: usize = 512;

/// Longest family name kept (the storage columns hold 128 characters).
pub const MAX_FAMILY_LEN: usize = 128;

static RULES: &[u8] = include_bytes!("../data/regexes.yaml");

static PARSER: LazyLock<UserAgentParser> = LazyLock::new(|| {
    UserAgentParser::builder()
        .with_unicode_support(false)
        .build_from_bytes(RULES)
        .expect("the bundled regexes.yaml is valid")
});

/// Browser, OS and device family of a User-Agent: the parts that survive an update.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserAgentFamilies {
    pub browser: String,
    pub os: String,
    pub device: String,
}

impl UserAgentFamilies {
    /// The families of a client that sent no User-Agent.
    pub fn other() -> Self {
        Self { browser: "Other".into(), os: "Other".into(), device: "Other".into() }
    }

    /// Parses a User-Agent header (`None`: no header). Never fails: unknown agents are `Other`.
    pub fn parse(user_agent: Option<&str>) -> Self {
        let Some(ua) = user_agent.map(str::trim).filter(|s| !s.is_empty()) else {
            return Self::other();
        };
        let ua = truncate(ua, MAX_USER_AGENT_LEN);
        let client = PARSER.parse(ua);
        // Some rules copy part of the agent into the family: bound what is stored and hashed.
        let bounded = |s: &str| truncate(s, MAX_FAMILY_LEN).to_owned();
        Self {
            browser: bounded(&client.user_agent.family),
            os: bounded(&client.os.family),
            device: bounded(&client.device.family),
        }
    }

    /// Builds the parser now rather than on the first request (it takes a moment).
    pub fn warm_up() {
        LazyLock::force(&PARSER);
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_120: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const CHROME_121: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.85 Safari/537.36";
    const FIREFOX_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

    #[test]
    fn browser_update_keeps_families() {
        let a = UserAgentFamilies::parse(Some(CHROME_120));
        assert_eq!(a.browser, "Chrome");
        assert_eq!(a.os, "Windows");
        assert_eq!(a, UserAgentFamilies::parse(Some(CHROME_121)));
    }

    #[test]
    fn different_browsers_differ() {
        let f = UserAgentFamilies::parse(Some(FIREFOX_LINUX));
        assert_eq!(f.browser, "Firefox");
        assert_eq!(f.os, "Linux");
        assert_ne!(f, UserAgentFamilies::parse(Some(CHROME_120)));
    }

    #[test]
    fn non_browsers_are_other() {
        assert_eq!(UserAgentFamilies::parse(None), UserAgentFamilies::other());
        assert_eq!(UserAgentFamilies::parse(Some("  ")), UserAgentFamilies::other());
        assert_eq!(UserAgentFamilies::parse(Some("my-cli/1.0")).os, "Other");
    }

    #[test]
    fn huge_and_multibyte_agents_are_bounded() {
        let ua = "é".repeat(10_000);
        assert_eq!(truncate(&ua, MAX_USER_AGENT_LEN).len(), MAX_USER_AGENT_LEN);
        let _ = UserAgentFamilies::parse(Some(&ua));
        // A rule that copies the agent into the device family.
        let copied = UserAgentFamilies::parse(Some(&format!("AIRIS{}", "x".repeat(400))));
        assert!(copied.device.len() <= MAX_FAMILY_LEN && copied.browser.len() <= MAX_FAMILY_LEN);
    }
}
