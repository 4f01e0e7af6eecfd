//! User-Agent parsing, the fingerprint's one expensive step, for a few agents seen in the wild:
//! the parser itself, and an agent seen before (answered from memory).

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use portcullis_fingerprint::UserAgentFamilies;

const AGENTS: &[(&str, &str)] = &[
    (
        "chrome_windows",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    ),
    (
        "safari_iphone",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    ),
    ("okhttp", "okhttp/4.12.0"),
    ("none", ""),
];

fn parse(c: &mut Criterion) {
    UserAgentFamilies::warm_up();
    let mut group = c.benchmark_group("ua_families");
    for (name, ua) in AGENTS {
        group.bench_function(format!("parser/{name}"), |b| b.iter(|| UserAgentFamilies::parse_uncached(black_box(ua))));
        group
            .bench_function(format!("remembered/{name}"), |b| b.iter(|| UserAgentFamilies::parse(black_box(Some(ua)))));
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
