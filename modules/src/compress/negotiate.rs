//! Content-coding negotiation against a request's `Accept-Encoding`
//! (RFC 9110 §12.5.3).

use std::fmt;
use std::str::FromStr;

/// A content coding the `compress-response` action can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`, which in HTTP means the zlib format (RFC 1950).
    Deflate,
    /// `br` (RFC 7932).
    Brotli,
    /// `compress`, the Unix `.Z` LZW format.
    Compress,
}

impl Algorithm {
    /// Every algorithm, in the default preference order (gzip, deflate, br, compress).
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Gzip,
        Algorithm::Deflate,
        Algorithm::Brotli,
        Algorithm::Compress,
    ];

    /// The content-coding token used in `Content-Encoding` and in config.
    pub fn id(self) -> &'static str {
        match self {
            Algorithm::Gzip => "gzip",
            Algorithm::Deflate => "deflate",
            Algorithm::Brotli => "br",
            Algorithm::Compress => "compress",
        }
    }

    /// Index into per-algorithm tables.
    fn index(self) -> usize {
        match self {
            Algorithm::Gzip => 0,
            Algorithm::Deflate => 1,
            Algorithm::Brotli => 2,
            Algorithm::Compress => 3,
        }
    }

    /// Maps an `Accept-Encoding` coding token (including the `x-` aliases of
    /// RFC 9110 §8.4.1) to an algorithm.
    fn from_coding(token: &str) -> Option<Algorithm> {
        let alg = match token.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Algorithm::Gzip,
            "deflate" => Algorithm::Deflate,
            "br" => Algorithm::Brotli,
            "compress" | "x-compress" => Algorithm::Compress,
            _ => return None,
        };
        Some(alg)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Errors from parsing the configured `algorithms` list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlgorithmError {
    /// A name that is not one of `gzip`, `deflate`, `br`, `compress`.
    #[error("unknown compression algorithm `{0}` (expected gzip, deflate, br or compress)")]
    Unknown(String),
    /// The same algorithm appears twice in the list.
    #[error("compression algorithm `{0}` is listed more than once")]
    Duplicate(Algorithm),
}

impl FromStr for Algorithm {
    type Err = AlgorithmError;

    /// Parses a config name (`gzip`, `deflate`, `br`, `compress`), ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|alg| alg.id().eq_ignore_ascii_case(s))
            .ok_or_else(|| AlgorithmError::Unknown(s.to_owned()))
    }
}

/// Parses a configured `algorithms` list, rejecting unknown names and
/// duplicates. An empty list yields the default, [`Algorithm::ALL`].
pub fn parse_algorithms<I, S>(names: I) -> Result<Vec<Algorithm>, AlgorithmError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out: Vec<Algorithm> = Vec::new();
    for name in names {
        let alg: Algorithm = name.as_ref().parse()?;
        if out.contains(&alg) {
            return Err(AlgorithmError::Duplicate(alg));
        }
        out.push(alg);
    }
    if out.is_empty() {
        out.extend(Algorithm::ALL);
    }
    Ok(out)
}

/// A q-value in thousandths, `0..=1000`.
type Weight = u16;

/// The weights an `Accept-Encoding` value assigns.
#[derive(Debug, Default)]
struct Preferences {
    explicit: [Option<Weight>; 4],
    identity: Option<Weight>,
    star: Option<Weight>,
}

impl Preferences {
    fn parse(header: &str) -> Preferences {
        let mut prefs = Preferences::default();
        for (coding, weight) in header.split(',').filter_map(parse_entry) {
            // The first valid entry for a coding wins.
            let slot = if coding == "*" {
                &mut prefs.star
            } else if coding.eq_ignore_ascii_case("identity") {
                &mut prefs.identity
            } else if let Some(alg) = Algorithm::from_coding(coding) {
                &mut prefs.explicit[alg.index()]
            } else {
                continue;
            };
            slot.get_or_insert(weight);
        }
        prefs
    }

    /// The weight of `alg`: its own entry, else `*`'s, else 0 (not acceptable).
    fn weight(&self, alg: Algorithm) -> Weight {
        self.explicit[alg.index()].or(self.star).unwrap_or(0)
    }
}

/// Parses one comma-separated element: `coding *( OWS ";" OWS name=value )`.
/// Returns `None` for anything malformed so the caller skips it.
fn parse_entry(entry: &str) -> Option<(&str, Weight)> {
    let mut parts = entry.split(';');
    let coding = parts.next()?.trim();
    if coding.is_empty() || !coding.bytes().all(is_tchar) {
        return None;
    }
    let mut weight = 1000;
    for param in parts {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            weight = parse_qvalue(value.trim())?;
        }
    }
    Some((coding, weight))
}

/// Parses `qvalue = ( "0" [ "." *DIGIT ] ) / ( "1" [ "." *"0" ] )` into
/// thousandths. Digits past the third decimal are tolerated and truncated.
fn parse_qvalue(value: &str) -> Option<Weight> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match int {
        "1" if frac.bytes().all(|b| b == b'0') => Some(1000),
        "0" => {
            let digits = frac.bytes().chain(std::iter::repeat(b'0')).take(3);
            Some(digits.fold(0, |acc, d| acc * 10 + Weight::from(d - b'0')))
        }
        _ => None,
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Picks the content coding to use for a response.
///
/// `accept_encoding` is the request's `Accept-Encoding` value (several header
/// lines joined with `,`); `None` means the header was absent, in which case
/// nothing is compressed. Each configured algorithm gets the q-value of its
/// own entry, else that of `*`, else 0. The highest non-zero q wins; ties go
/// to the earlier algorithm in `configured`. If the client explicitly rates
/// `identity` above the winner, returns `None` so the body passes through.
pub fn negotiate(accept_encoding: Option<&str>, configured: &[Algorithm]) -> Option<Algorithm> {
    let prefs = Preferences::parse(accept_encoding?);
    let mut best: Option<(Algorithm, Weight)> = None;
    for &alg in configured {
        let weight = prefs.weight(alg);
        if weight > 0 && best.is_none_or(|(_, top)| weight > top) {
            best = Some((alg, weight));
        }
    }
    let (alg, weight) = best?;
    if prefs.identity.is_some_and(|identity| identity > weight) {
        return None;
    }
    Some(alg)
}
