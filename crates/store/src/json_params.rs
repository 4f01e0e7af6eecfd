//! Lists and rows passed to SQL as one JSON parameter: the statement text (and on PostgreSQL
//! its prepared plan) stays the same whatever the number of items.

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::DbBackend;

/// `IN` over the JSON array of strings bound as parameter `$n`.
pub(crate) fn in_list(backend: DbBackend, n: u8) -> String {
    match backend {
        // ANY over an array: an index scan per element.
        DbBackend::Postgres => format!("= ANY(ARRAY(SELECT jsonb_array_elements_text(${n}::jsonb)))"),
        _ => format!("IN (SELECT value FROM json_each(${n}))"),
    }
}

/// The parameter for [`in_list`].
pub(crate) fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> sea_orm::Value {
    let items: Vec<&str> = items.into_iter().collect();
    serde_json::Value::from(items).to_string().into()
}

/// A timestamp as the database stores it: RFC 3339 to the microsecond (cut, as a bound value is).
pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_a_json_array_of_strings() {
        let v = list(["a\"b", "c"]);
        assert_eq!(v, sea_orm::Value::from(r#"["a\"b","c"]"#.to_owned()));
    }

    #[test]
    fn timestamps_are_cut_to_the_microsecond() {
        let t = DateTime::parse_from_rfc3339("2026-11-30T17:40:01.123456789Z").unwrap().with_timezone(&Utc);
        assert_eq!(timestamp(t), "2026-11-30T17:40:01.123456Z");
    }
}
