//! User-Agent parsing down to the three families that enter a fingerprint.

use std::sync::LazyLock;

use quick_cache::sync::Cache;
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

/// How many distinct User-Agents keep their parsed families in memory. Parsing one runs
/// hundreds of regexes, about as long as an RS256 signature (`cargo bench -p
/// portcullis-fingerprint`); real traffic repeats far fewer agents than this. At most
/// `MAX_USER_AGENT_LEN` bytes each, so a few MiB at worst; an agent pushed out is parsed again.
pub const CACHED_AGENTS: usize = 4096;

static SEEN: LazyLock<Cache<String, UserAgentFamilies>> = LazyLock::new(|| Cache::new(CACHED_AGENTS));

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
    /// Agents seen recently are answered from memory.
    pub fn parse(user_agent: Option<&str>) -> Self {
        let Some(ua) = user_agent.map(str::trim).filter(|s| !s.is_empty()) else {
            return Self::other();
        };
        let ua = truncate(ua, MAX_USER_AGENT_LEN);
        if let Some(families) = SEEN.get(ua) {
            return families;
        }
        let families = Self::run_parser(ua);
        SEEN.insert(ua.to_owned(), families.clone());
        families
    }

    /// [`parse`](Self::parse) without the memory of recent agents: always runs the parser.
    pub fn parse_uncached(user_agent: &str) -> Self {
        match user_agent.trim() {
            "" => Self::other(),
            ua => Self::run_parser(truncate(ua, MAX_USER_AGENT_LEN)),
        }
    }

    /// `ua`: trimmed, non-empty, truncated.
    fn run_parser(ua: &str) -> Self {
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
    fn remembered_agents_parse_as_the_parser_says() {
        for ua in [CHROME_120, CHROME_121, FIREFOX_LINUX, "okhttp/4.12.0", "curl/8.5.0"] {
            let first = UserAgentFamilies::parse(Some(ua));
            assert_eq!(first, UserAgentFamilies::parse_uncached(ua));
            assert_eq!(UserAgentFamilies::parse(Some(ua)), first, "the remembered answer is the same");
        }
        let long = format!("{CHROME_120} {}", "x".repeat(2 * MAX_USER_AGENT_LEN));
        assert_eq!(UserAgentFamilies::parse(Some(&long)), UserAgentFamilies::parse_uncached(&long));
        assert_eq!(UserAgentFamilies::parse(Some("   ")), UserAgentFamilies::other());
    }

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

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Any User-Agent: families within the bounds, the same with and without the memory.
        #[test]
        fn any_user_agent_is_bounded_and_stable(ua in "\\PC{0,700}") {
            let f = UserAgentFamilies::parse(Some(&ua));
            prop_assert!(f.browser.len() <= MAX_FAMILY_LEN && f.os.len() <= MAX_FAMILY_LEN && f.device.len() <= MAX_FAMILY_LEN);
            prop_assert_eq!(&f, &UserAgentFamilies::parse_uncached(&ua));
            prop_assert_eq!(&f, &UserAgentFamilies::parse(Some(&ua)), "the memory answers as the parser did");
        }
    }
}
