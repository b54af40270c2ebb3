//! Text helpers shared by the runner's outputs.

/// `text` cut to at most `max` bytes at a character boundary, with `...` when it was cut.
pub fn shortened(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &text[..cut])
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_is_cut_at_a_character_boundary() {
        assert_eq!(super::shortened("abc", 3), "abc");
        assert_eq!(super::shortened("abcd", 3), "abc...");
        assert_eq!(super::shortened("aé", 2), "a...");
    }
}
