//! [`TimeSpan`]: a duration as people write it in configuration files.

use std::{fmt, time::Duration};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A duration written `250ms`, `30s`, `1.5s`, `5m`, `1h` or `2d` (units
/// `ns`, `us`, `ms`, `s`, `m`, `h`, `d`); `0` alone is zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeSpan(pub Duration);

impl TimeSpan {
    /// `seconds` seconds.
    pub const fn secs(seconds: u64) -> Self {
        Self(Duration::from_secs(seconds))
    }

    /// `millis` milliseconds.
    pub const fn millis(millis: u64) -> Self {
        Self(Duration::from_millis(millis))
    }

    /// Reads `text`, or says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "0" {
            return Ok(Self(Duration::ZERO));
        }
        let split = text
            .find(|c: char| c.is_ascii_alphabetic())
            .ok_or_else(|| format!("`{text}` has no unit (ms, s, m, h, ...)"))?;
        let (number, unit) = text.split_at(split);
        let number: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` does not start with a number"))?;
        let seconds_per_unit = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            other => {
                return Err(format!(
                    "`{other}` in `{text}` is not a unit (ms, s, m, h, ...)"
                ));
            }
        };
        Duration::try_from_secs_f64(number * seconds_per_unit)
            .map(Self)
            .map_err(|_| format!("`{text}` is not a duration (negative or too long)"))
    }
}

impl fmt::Display for TimeSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        let (value, unit) = [
            (3_600_000_000_000, "h"),
            (60_000_000_000, "m"),
            (1_000_000_000, "s"),
            (1_000_000, "ms"),
            (1_000, "us"),
        ]
        .into_iter()
        .find(|(size, _)| nanos >= *size && nanos.is_multiple_of(*size))
        .map_or((nanos, "ns"), |(size, unit)| (nanos / size, unit));
        write!(f, "{value}{unit}")
    }
}

impl From<TimeSpan> for Duration {
    fn from(span: TimeSpan) -> Self {
        span.0
    }
}

impl Serialize for TimeSpan {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeSpan {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = TimeSpan;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"250ms\", \"30s\" or \"5m\"")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<TimeSpan, E> {
                TimeSpan::parse(text).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<TimeSpan, E> {
                match value {
                    0 => Ok(TimeSpan(Duration::ZERO)),
                    _ => Err(E::custom(format!(
                        "`{value}` has no unit: write \"{value}s\" or \"{value}ms\""
                    ))),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_people_write_and_refuses_the_rest() {
        assert_eq!(TimeSpan::parse("250ms"), Ok(TimeSpan::millis(250)));
        assert_eq!(TimeSpan::parse("1.5s"), Ok(TimeSpan::millis(1500)));
        assert_eq!(TimeSpan::parse("5m"), Ok(TimeSpan::secs(300)));
        assert_eq!(TimeSpan::parse(" 2h "), Ok(TimeSpan::secs(7200)));
        assert_eq!(TimeSpan::parse("0"), Ok(TimeSpan::secs(0)));
        assert!(TimeSpan::parse("30").unwrap_err().contains("no unit"));
        assert!(
            TimeSpan::parse("30 parsecs")
                .unwrap_err()
                .contains("not a unit")
        );
        assert!(TimeSpan::parse("-1s").is_err());
        assert!(TimeSpan::parse("fast").is_err());
        for span in [
            TimeSpan::millis(250),
            TimeSpan::secs(90),
            TimeSpan::secs(7200),
            TimeSpan::millis(1500),
        ] {
            assert_eq!(TimeSpan::parse(&span.to_string()), Ok(span), "{span}");
        }
    }
}
