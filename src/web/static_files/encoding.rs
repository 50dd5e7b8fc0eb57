//! Choosing a precompressed sibling (`file.br`, `file.gz`) from the
//! request's `Accept-Encoding`.

/// A content coding that may be stored beside a file.
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

    /// The suffix of the sibling file.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Coding::Brotli => ".br",
            Coding::Gzip => ".gz",
        }
    }
}

/// Most list members read from one `Accept-Encoding`.
const MAX_MEMBERS: usize = 32;

/// The codings `accept` allows, best first (by q-value; brotli wins ties).
pub(crate) fn acceptable(accept: &str) -> Vec<Coding> {
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
    let (br, gzip) = (br.or(any).unwrap_or(0), gzip.or(any).unwrap_or(0));
    let mut out = Vec::with_capacity(2);
    match (br, gzip) {
        (0, 0) => {}
        (b, g) if b >= g => {
            out.push(Coding::Brotli);
            if g > 0 {
                out.push(Coding::Gzip);
            }
        }
        (b, _) => {
            out.push(Coding::Gzip);
            if b > 0 {
                out.push(Coding::Brotli);
            }
        }
    }
    out
}

/// A q-value (`0`, `0.5`, `1.000`) in thousandths; `None` if malformed.
fn quality(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(frac),
        "1" if frac == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::{Brotli, Gzip};

    #[test]
    fn preference_follows_q_values() {
        assert_eq!(acceptable("gzip, deflate, br"), [Brotli, Gzip]);
        assert_eq!(acceptable("gzip"), [Gzip]);
        assert_eq!(acceptable("br;q=0.5, gzip"), [Gzip, Brotli]);
        assert_eq!(acceptable("br;q=0, gzip;q=0.1"), [Gzip]);
        assert_eq!(acceptable("*"), [Brotli, Gzip]);
        assert_eq!(acceptable("*;q=0.2, gzip;q=0"), [Brotli]);
        assert_eq!(acceptable("X-GZIP ; Q=1.0"), [Gzip]);
        assert_eq!(acceptable("identity"), []);
        assert_eq!(acceptable(""), []);
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
            assert_eq!(acceptable(bad), [], "{bad}");
        }
        assert_eq!(quality("0.25"), Some(250));
        assert_eq!(quality("1."), Some(1000));
    }
}
