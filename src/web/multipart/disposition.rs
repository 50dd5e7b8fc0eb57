//! `Content-Disposition: form-data` (RFC 7578 §4.2): a part's field name
//! and file name; and a file name made safe to use as one on disk.

/// A part's `name` and `filename` (from `filename*` when given, RFC 8187),
/// or `None` unless the value is `form-data`.
pub(crate) fn parse(value: &str) -> Option<(Option<String>, Option<String>)> {
    let mut items = split_params(value).into_iter();
    if !items.next()?.trim().eq_ignore_ascii_case("form-data") {
        return None;
    }
    let (mut name, mut file_name, mut extended) = (None, None, None);
    for item in items {
        let Some((key, raw)) = item.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = unquote(raw.trim());
        match key.as_str() {
            "name" => name = Some(value),
            "filename" => file_name = Some(value),
            "filename*" => extended = decode_ext_value(&value),
            _ => {}
        }
    }
    Some((name, extended.or(file_name)))
}

/// Splits at `;` outside quoted strings.
fn split_params(value: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                items.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&value[start..]);
    items
}

/// A token as is, or a quoted string without its quotes and escapes.
fn unquote(raw: &str) -> String {
    let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return raw.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// `UTF-8''percent%20encoded` (RFC 8187); other charsets are not decoded.
fn decode_ext_value(value: &str) -> Option<String> {
    let (charset, rest) = value.split_once('\'')?;
    let (_language, encoded) = rest.split_once('\'')?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    let bytes = crate::web::percent::decode_strict(encoded)?;
    String::from_utf8(bytes.into_owned()).ok()
}

/// The last path component of a client's file name, without control
/// characters, leading dots or spaces, at most 255 bytes: safe to join to
/// a directory (never `..`, never absolute, never a hidden file). `None`
/// when nothing is left.
pub(crate) fn safe_file_name(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let trimmed = cleaned
        .trim_start_matches(['.', ' '])
        .trim_end_matches([' ', '.']);
    let mut end = trimmed.len().min(255);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    let safe = &trimmed[..end];
    (!safe.is_empty()).then(|| safe.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(v: &str) -> (Option<String>, Option<String>) {
        parse(v).unwrap()
    }

    #[test]
    fn names_and_file_names() {
        assert_eq!(both("form-data; name=\"a\""), (Some("a".into()), None));
        assert_eq!(
            both("Form-Data; name=field; filename=\"x; y\\\".txt\""),
            (Some("field".into()), Some("x; y\".txt".into()))
        );
        assert_eq!(
            both(
                "form-data; name=f; filename=\"fallback\"; filename*=UTF-8''%E2%82%AC%20rates.txt"
            ),
            (Some("f".into()), Some("€ rates.txt".into()))
        );
        assert_eq!(both("form-data; filename*=UTF-8''%zz"), (None, None));
        assert_eq!(both("form-data; filename*=UTF-8''%4"), (None, None));
        assert_eq!(both("form-data; name"), (None, None));
        assert!(parse("attachment; name=a").is_none());
        assert!(parse("").is_none());
    }

    #[test]
    fn file_names_with_paths_are_made_safe() {
        assert_eq!(
            safe_file_name("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(
            safe_file_name("C:\\Users\\me\\cv.pdf").as_deref(),
            Some("cv.pdf")
        );
        assert_eq!(safe_file_name("/abs/.hidden").as_deref(), Some("hidden"));
        assert_eq!(safe_file_name("a\0b\r\nc.txt").as_deref(), Some("abc.txt"));
        assert_eq!(safe_file_name(".."), None);
        assert_eq!(safe_file_name("dir/"), None);
        assert_eq!(safe_file_name(" . "), None);
        let long = "é".repeat(200);
        let safe = safe_file_name(&long).unwrap();
        assert!(safe.len() <= 255 && safe.chars().all(|c| c == 'é'));
    }
}
