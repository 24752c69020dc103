//! Reading PDFs back as text with poppler's `pdftotext -layout` and `pdfinfo` (Debian
//! `poppler-utils`, installed by `.ci/run`). A missing tool fails the test with a clear
//! message; it never skips.
use std::process::Command;

/// Runs a poppler tool on `bytes` (written to a temporary file) and returns its stdout.
fn poppler(tool: &str, args: &[&str], bytes: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("billing-pdf-{}.pdf", uuid::Uuid::new_v4()));
    std::fs::write(&path, bytes).expect("write the PDF to a temporary file");
    let output = Command::new(tool)
        .args(args)
        .arg(&path)
        .args(["-"])
        .output();
    let _ = std::fs::remove_file(&path);
    let output = output.unwrap_or_else(|e| {
        panic!("{tool} could not run ({e}): install poppler-utils (apt-get install poppler-utils; .ci/run does)")
    });
    assert!(
        output.status.success(),
        "{tool} failed on the PDF: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("poppler writes UTF-8")
}

/// The whole text of a PDF, laid out as on the page.
pub fn pdf_text(bytes: &[u8]) -> String {
    poppler("pdftotext", &["-layout", "-enc", "UTF-8"], bytes)
}

/// The text of page `page` (from 1) only.
pub fn pdf_page_text(bytes: &[u8], page: usize) -> String {
    let n = page.to_string();
    poppler(
        "pdftotext",
        &["-layout", "-enc", "UTF-8", "-f", &n, "-l", &n],
        bytes,
    )
}

/// The page count `pdfinfo` reads.
pub fn pdf_pages(bytes: &[u8]) -> usize {
    let path = std::env::temp_dir().join(format!("billing-pdf-{}.pdf", uuid::Uuid::new_v4()));
    std::fs::write(&path, bytes).expect("write the PDF to a temporary file");
    let output = Command::new("pdfinfo").arg(&path).output();
    let _ = std::fs::remove_file(&path);
    let output = output.unwrap_or_else(|e| {
        panic!("pdfinfo could not run ({e}): install poppler-utils (apt-get install poppler-utils; .ci/run does)")
    });
    assert!(output.status.success(), "pdfinfo failed on the PDF");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("pdfinfo prints Pages:")
}

/// The one text line holding `needle`, asserting there is exactly one.
pub fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    let found: Vec<&str> = text.lines().filter(|l| l.contains(needle)).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one line with {needle:?}, got {found:?} in:\n{text}"
    );
    found[0]
}

/// Asserts that `line` holds `parts` left to right, and returns it.
pub fn in_order<'a>(line: &'a str, parts: &[&str]) -> &'a str {
    let mut from = 0;
    for part in parts {
        let at = line[from..]
            .find(part)
            .unwrap_or_else(|| panic!("{part:?} missing after column {from} in {line:?}"));
        from += at + part.len();
    }
    line
}
