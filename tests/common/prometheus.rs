//! The Prometheus text format read back, for the tests of what a server
//! writes at `GET /metrics` (tests/http.rs): its samples, with sums and
//! histogram buckets. (What the lab makes of them, per step and on Locust's
//! page, is `locust_servers.py`'s, tested in tests/extension.rs.)

/// One sample line of the text format: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    /// Metric name (for a histogram: with its `_bucket`, `_sum`, `_count` suffix).
    name: String,
    /// Labels, in the order written.
    labels: Vec<(String, String)>,
    /// The value.
    value: f64,
}

/// A whole `/metrics` answer, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    /// Every sample, in the order written.
    samples: Vec<Sample>,
}

/// A line of `/metrics` that is not the text format.
#[derive(Debug, thiserror::Error)]
#[error("line {line} of /metrics is not in the Prometheus text format: {text:?}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// The line.
    pub text: String,
}

impl Exposition {
    /// Parses the text format (version 0.0.4): comments and blank lines are
    /// skipped, timestamps ignored. (A few lines of our own: the crates that
    /// parse it pull in regex and chrono for what these tests need.)
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let samples = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty() && !line.starts_with('#'))
            .map(|(index, line)| {
                parse_sample(line).ok_or_else(|| ParseError {
                    line: index + 1,
                    text: line.to_owned(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Exposition { samples })
    }

    /// The sum of the samples named `name` that carry every label of `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|sample| sample.value).sum()
    }

    /// The cumulative buckets `(le, count)` of histogram `name` for the
    /// samples with `labels`, in increasing `le` (`+Inf` last).
    pub fn buckets(&self, name: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
        let bucket = format!("{name}_bucket");
        let mut buckets: Vec<(f64, f64)> = self
            .matching(&bucket, labels)
            .filter_map(|sample| {
                let le = label(sample, "le")?;
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((bound, sample.value))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        buckets
    }

    /// The samples named `name` that carry every label of `labels`.
    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(key, value)| label(sample, key) == Some(value))
        })
    }
}

/// The value of `sample`'s label `key`, if it has one.
fn label<'a>(sample: &'a Sample, key: &str) -> Option<&'a str> {
    sample
        .labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// One sample line, `name{key="value",…} value [timestamp]`; `None` if it
/// is not one.
fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            rest = rest.trim_start_matches([',', ' ']);
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = rest.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.push((key.trim().to_owned(), value));
            rest = &after[end + 1..];
        }
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        value => value.parse().ok()?,
    };
    (!name.is_empty()).then(|| Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}
