//! Reading `Accept-Encoding` (RFC 9110 §12.5.3): which of the codings the
//! server can produce (br, gzip) the client accepts, best first. Serves the
//! compression middleware ([`preferred`]) and the precompressed siblings of
//! static files ([`acceptable`], [`Coding::suffix`]).

/// A content coding the server can produce (or find stored beside a file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    /// The `Content-Encoding` token.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// The suffix of a precompressed sibling file (`file.br`, `file.gz`).
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Coding::Brotli => ".br",
            Coding::Gzip => ".gz",
        }
    }
}

/// Most list members read from one `Accept-Encoding`.
const MAX_MEMBERS: usize = 32;

/// The q-values (in thousandths) `accept` gives brotli and gzip; 0 is
/// "not acceptable". Malformed members are ignored.
fn weights(accept: &str) -> (u16, u16) {
    let (mut br, mut gzip, mut any) = (None, None, None);
    for member in accept.split(',').take(MAX_MEMBERS) {
        let mut parts = member.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts
            .find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| quality(v.trim()))
            })
            .unwrap_or(Some(1000));
        let Some(q) = q else { continue };
        if name.eq_ignore_ascii_case("br") {
            br = Some(q);
        } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(q);
        } else if name == "*" {
            any = Some(q);
        }
    }
    (br.or(any).unwrap_or(0), gzip.or(any).unwrap_or(0))
}

/// The coding `accept` prefers among those `offered` allows (brotli wins
/// ties), or `None` if it accepts neither.
pub(crate) fn preferred(accept: &str, brotli: bool, gzip: bool) -> Option<Coding> {
    let (br, gz) = weights(accept);
    let (br, gz) = (if brotli { br } else { 0 }, if gzip { gz } else { 0 });
    match (br, gz) {
        (0, 0) => None,
        (b, g) if b >= g => Some(Coding::Brotli),
        _ => Some(Coding::Gzip),
    }
}

/// The codings `accept` allows, best first (by q-value; brotli wins ties).
pub(crate) fn acceptable(accept: &str) -> Vec<Coding> {
    let (br, gz) = weights(accept);
    let mut ranked = [(br, Coding::Brotli), (gz, Coding::Gzip)];
    // Stable: on equal weights brotli stays first.
    ranked.sort_by_key(|&(q, _)| std::cmp::Reverse(q));
    ranked
        .into_iter()
        .filter(|&(q, _)| q > 0)
        .map(|(_, c)| c)
        .collect()
}

/// A q-value (`0`, `0.5`, `1.000`) in thousandths; `None` if malformed.
fn quality(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0u16;
    for (i, digit) in frac.bytes().enumerate() {
        thousandths += u16::from(digit - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::{Brotli, Gzip};

    fn both(accept: &str) -> Option<Coding> {
        preferred(accept, true, true)
    }

    #[test]
    fn preference_follows_q_values() {
        assert_eq!(both("gzip, deflate, br"), Some(Brotli));
        assert_eq!(both("gzip"), Some(Gzip));
        assert_eq!(both("br;q=0.5, gzip"), Some(Gzip));
        assert_eq!(both("br;q=0, gzip;q=0.1"), Some(Gzip));
        assert_eq!(both("*"), Some(Brotli));
        assert_eq!(both("*;q=0.2, br;q=0"), Some(Gzip));
        assert_eq!(both("X-GZIP ; Q=1.0"), Some(Gzip));
        assert_eq!(both("identity"), None);
        assert_eq!(both(""), None);
        assert_eq!(both("gzip;q=0, br;q=0"), None);
    }

    #[test]
    fn only_offered_codings_are_chosen() {
        assert_eq!(preferred("br, gzip;q=0.1", false, true), Some(Gzip));
        assert_eq!(preferred("br", false, true), None);
        assert_eq!(preferred("gzip, br;q=0.1", true, false), Some(Brotli));
    }

    #[test]
    fn malformed_q_values_are_not_acceptance() {
        for bad in [
            "br;q=2",
            "br;q=1.5",
            "br;q=0.5555",
            "br;q=x",
            "br;q=-1",
            "br;q=",
        ] {
            assert_eq!(both(bad), None, "{bad}");
        }
        assert_eq!(quality("0.25"), Some(250));
        assert_eq!(quality("0.005"), Some(5));
        assert_eq!(quality("1."), Some(1000));
        assert_eq!(quality("1.001"), None);
    }

    #[test]
    fn acceptable_ranks_every_accepted_coding() {
        assert_eq!(acceptable("gzip, deflate, br"), [Brotli, Gzip]);
        assert_eq!(acceptable("gzip"), [Gzip]);
        assert_eq!(acceptable("br;q=0.5, gzip"), [Gzip, Brotli]);
        assert_eq!(acceptable("br;q=0, gzip;q=0.1"), [Gzip]);
        assert_eq!(acceptable("*"), [Brotli, Gzip]);
        assert_eq!(acceptable("*;q=0.2, gzip;q=0"), [Brotli]);
        assert_eq!(acceptable("X-GZIP ; Q=1.0"), [Gzip]);
        assert_eq!(acceptable("identity"), []);
        assert_eq!(acceptable(""), []);
        for bad in ["br;q=2", "br;q=0.5555", "br;q=x", "br;q="] {
            assert_eq!(acceptable(bad), [], "{bad}");
        }
    }

    #[test]
    fn suffixes_name_the_siblings() {
        assert_eq!(Brotli.suffix(), ".br");
        assert_eq!(Gzip.suffix(), ".gz");
    }

    #[test]
    fn long_lists_are_cut_not_scanned_forever() {
        let long = format!("{}br", "x, ".repeat(10_000));
        assert_eq!(both(&long), None);
    }
}
