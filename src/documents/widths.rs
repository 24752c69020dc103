//! Text widths in the built-in Helvetica, for right-aligned columns and cut descriptions.
use super::format::printable;

/// `text` cut with `…` so that it fits in `width` mm.
pub(super) fn fit(text: &str, size: f32, width: f32) -> String {
    let text = printable(text);
    if text_width(&text, size, false) <= width {
        return text;
    }
    let mut out = String::new();
    for c in text.chars() {
        if text_width(&format!("{out}{c}…"), size, false) > width {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// Width in mm of `text` in Helvetica; Helvetica-Bold's letters are about 7% wider (its
/// digits, punctuation and `R` are not).
pub(super) fn text_width(text: &str, size: f32, bold: bool) -> f32 {
    let units: f32 = text
        .chars()
        .map(|c| {
            let w = glyph_width(c) as f32;
            if bold && c.is_alphabetic() && c != 'R' {
                w * 1.07
            } else {
                w
            }
        })
        .sum();
    units * size / 1000.0 * 25.4 / 72.0
}

/// Helvetica's advance widths (Adobe's AFM), in thousandths of an em.
fn glyph_width(c: char) -> u32 {
    const ASCII: [u16; 95] = [
        278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
        278, // ' '..'/'
        556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584,
        556, // '0'..'?'
        1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722,
        778, // '@'..'O'
        667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
        556, // 'P'..'_'
        333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556,
        556, // '`'..'o'
        556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // 'p'..'~'
    ];
    match c {
        ' '..='~' => u32::from(ASCII[c as usize - 32]),
        '…' | '—' => 1000,
        '–' => 556,
        'À'..='Ý' => 700,
        _ => 556,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_to_fit() {
        let long = "x".repeat(400);
        let cut = fit(&long, 9.0, 80.0);
        assert!(cut.ends_with('…'));
        assert!(text_width(&cut, 9.0, false) <= 80.0);
        assert_eq!(fit("Plano Pro", 9.0, 80.0), "Plano Pro");
    }
}
