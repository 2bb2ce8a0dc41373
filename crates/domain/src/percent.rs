//! Percent-decoding (`%XX`), one implementation for every place that needs it: IAM's
//! URL-encoded policy documents and the signup API's path segments.

/// Decodes `%XX` escapes; a malformed escape is kept literally (so it then fails whatever
/// grammar the text must fit), and bytes that are not UTF-8 become U+FFFD.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_decode_and_malformed_ones_stay() {
        assert_eq!(decode("acme%2Dlabs"), "acme-labs");
        assert_eq!(decode("%7B%22a%22%3A1%7D"), "{\"a\":1}");
        assert_eq!(decode("a%2"), "a%2");
        assert_eq!(decode("%E2%82%AC"), "€");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%é%"), "%é%");
        assert_eq!(decode("%FF"), "\u{FFFD}");
    }
}
