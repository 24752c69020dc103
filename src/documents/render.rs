//! Layout: a [`Document`] of already formatted text in, PDF bytes out. Pure and deterministic:
//! no clock, no random ids (the trailer `/ID` is a hash of the document's key), fixed metadata.
//!
//! A4 pages in the built-in Helvetica (WinAnsi: Portuguese accents, `R$`, `€` all fit; other
//! characters print as `?`). The first page carries the header (title, number, status mark,
//! both parties, dates); lines flow onto further pages, each with a short header and the table
//! header again; the totals come after the last line, on the last page only, and every page
//! ends with "Page n of m".
use printpdf::{
    BuiltinFont, Color, Line, LinePoint, Mm, Op, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, Rgb, TextItem,
};
use sha2::{Digest, Sha256};

use super::format::printable;
use super::widths::{fit, text_width};

/// One party's block: a heading, then lines (the first one, the name, in bold).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    pub heading: String,
    pub lines: Vec<String>,
}

/// One row of the table, formatted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub description: String,
    pub quantity: String,
    pub unit_price: String,
    pub amount: String,
}

/// Everything a page shows, as text already in the document's language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// What makes the trailer `/ID`: the same key gives the same id (`invoice:inv_…`).
    pub key: String,
    /// `FATURA`, `INVOICE`, `CREDIT NOTE`.
    pub title: String,
    /// `2026-000001`, printed as `Número 2026-000001` at the top and bare in each footer.
    pub number: String,
    /// `Número`.
    pub number_label: String,
    /// `PAGO`, `VOID`, `RASCUNHO`: a large mark under the number.
    pub stamp: Option<Stamp>,
    pub from: Party,
    pub to: Party,
    /// `Emissão: 31/01/2026` and such, one a line.
    pub facts: Vec<(String, String)>,
    /// Description, quantity, unit price and amount.
    pub columns: [String; 4],
    pub rows: Vec<Row>,
    /// Label and amount; the last one is printed in bold.
    pub totals: Vec<(String, String)>,
    /// `Página` and `de`, for "Página 1 de 3".
    pub page_words: (String, String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub text: String,
    pub tone: Tone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Neutral,
}

const PAGE_W: f32 = 210.0;
const PAGE_H: f32 = 297.0;
const LEFT: f32 = 20.0;
const RIGHT: f32 = 190.0;
const COL_QTY: f32 = 125.0;
const COL_UNIT: f32 = 158.0;
const DESC_WIDTH: f32 = 80.0;
const ROW: f32 = 6.0;
const BOTTOM: f32 = 28.0;
const BODY: f32 = 9.0;

/// The PDF of `doc`, the same bytes every time for the same input.
pub fn render(doc: &Document) -> std::io::Result<Vec<u8>> {
    let pages = paginate(doc);
    let total = pages.len();
    let pdf_pages: Vec<PdfPage> = pages
        .into_iter()
        .enumerate()
        .map(|(i, ops)| {
            let mut page = Canvas { ops };
            footer(&mut page, doc, i + 1, total);
            PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), page.ops)
        })
        .collect();
    let mut pdf = PdfDocument::new(&printable(&format!("{} {}", doc.title, doc.number)));
    pdf.metadata.info.producer = "billing".into();
    pdf.metadata.info.creator = "billing".into();
    pdf.with_pages(pdf_pages);
    let mut warnings = Vec::new();
    let mut lo = pdf.to_lopdf_document(&PdfSaveOptions::default(), &mut warnings);
    // printpdf writes a random `/ID`. Ours: the document's key (permanent), then a hash of
    // what it shows (changes when the document does, say once the invoice is paid).
    let permanent = Sha256::digest(doc.key.as_bytes())[..16].to_vec();
    let version = Sha256::digest(format!("{doc:?}").as_bytes())[..16].to_vec();
    lo.trailer.set(
        "ID",
        lopdf::Object::Array(vec![
            lopdf::Object::String(permanent, lopdf::StringFormat::Hexadecimal),
            lopdf::Object::String(version, lopdf::StringFormat::Hexadecimal),
        ]),
    );
    lo.compress();
    let mut bytes = Vec::new();
    lo.save_to(&mut bytes)?;
    Ok(bytes)
}

/// The pages' drawing operations, before their footers.
fn paginate(doc: &Document) -> Vec<Vec<Op>> {
    let mut pages = Vec::new();
    let mut page = Canvas { ops: Vec::new() };
    let mut y = first_header(&mut page, doc);
    y = table_header(&mut page, doc, y);
    for row in &doc.rows {
        if y - ROW < BOTTOM {
            pages.push(std::mem::take(&mut page.ops));
            let top = next_header(&mut page, doc);
            y = table_header(&mut page, doc, top);
        }
        y -= ROW;
        page.text(
            LEFT,
            y,
            BODY,
            false,
            &fit(&row.description, BODY, DESC_WIDTH),
        );
        page.text_right(COL_QTY, y, BODY, false, &row.quantity);
        page.text_right(COL_UNIT, y, BODY, false, &row.unit_price);
        page.text_right(RIGHT, y, BODY, false, &row.amount);
    }
    let needed = ROW * (doc.totals.len() as f32 + 1.0);
    if y - needed < BOTTOM {
        pages.push(std::mem::take(&mut page.ops));
        y = next_header(&mut page, doc);
    }
    y -= 3.0;
    page.rule(COL_QTY - 30.0, RIGHT, y);
    for (i, (label, value)) in doc.totals.iter().enumerate() {
        let bold = i + 1 == doc.totals.len();
        y -= ROW;
        page.text_right(COL_UNIT, y, 10.0, bold, label);
        page.text_right(RIGHT, y, 10.0, bold, value);
    }
    pages.push(page.ops);
    pages
}

/// Title, number, mark, parties and dates; returns where the table starts.
fn first_header(page: &mut Canvas, doc: &Document) -> f32 {
    page.text(LEFT, 272.0, 20.0, true, &doc.title);
    let number = format!("{} {}", doc.number_label, doc.number);
    page.text_right(RIGHT, 273.0, 11.0, false, &number);
    if let Some(stamp) = &doc.stamp {
        page.fill(match stamp.tone {
            Tone::Good => (0.0, 0.5, 0.2),
            Tone::Bad => (0.75, 0.1, 0.1),
            Tone::Neutral => (0.4, 0.4, 0.4),
        });
        page.text_right(RIGHT, 262.0, 18.0, true, &stamp.text);
        page.fill((0.0, 0.0, 0.0));
    }
    let mut bottom: f32 = 250.0;
    for (x, party) in [(LEFT, &doc.from), (110.0, &doc.to)] {
        let mut y = 248.0;
        page.fill((0.4, 0.4, 0.4));
        page.text(x, y, 8.0, true, &party.heading);
        page.fill((0.0, 0.0, 0.0));
        for (i, line) in party.lines.iter().enumerate() {
            y -= 5.0;
            page.text(x, y, 10.0, i == 0, &fit(line, 10.0, 78.0));
        }
        bottom = bottom.min(y);
    }
    let mut y = bottom - 6.0;
    for (label, value) in &doc.facts {
        y -= 5.0;
        page.text(LEFT, y, 10.0, true, label);
        page.text(
            LEFT + 42.0,
            y,
            10.0,
            false,
            &fit(value, 10.0, RIGHT - LEFT - 42.0),
        );
    }
    y - 8.0
}

/// The header of a continuation page; returns where the table starts.
fn next_header(page: &mut Canvas, doc: &Document) -> f32 {
    page.text(LEFT, 276.0, 12.0, true, &doc.title);
    let number = format!("{} {}", doc.number_label, doc.number);
    page.text_right(RIGHT, 276.0, 10.0, false, &number);
    page.rule(LEFT, RIGHT, 272.0);
    266.0
}

fn table_header(page: &mut Canvas, doc: &Document, y: f32) -> f32 {
    let [desc, qty, unit, amount] = &doc.columns;
    page.text(LEFT, y, BODY, true, desc);
    page.text_right(COL_QTY, y, BODY, true, qty);
    page.text_right(COL_UNIT, y, BODY, true, unit);
    page.text_right(RIGHT, y, BODY, true, amount);
    page.rule(LEFT, RIGHT, y - 2.0);
    y - 1.0
}

fn footer(page: &mut Canvas, doc: &Document, n: usize, total: usize) {
    let (word, of) = &doc.page_words;
    page.fill((0.4, 0.4, 0.4));
    page.text(LEFT, 15.0, 8.0, false, &doc.number);
    page.text_right(RIGHT, 15.0, 8.0, false, &format!("{word} {n} {of} {total}"));
}

struct Canvas {
    ops: Vec<Op>,
}

impl Canvas {
    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, text: &str) {
        let font = if bold {
            BuiltinFont::HelveticaBold
        } else {
            BuiltinFont::Helvetica
        };
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::Builtin(font),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point::new(Mm(x), Mm(y)),
            },
            Op::ShowText {
                items: vec![TextItem::Text(printable(text))],
            },
            Op::EndTextSection,
        ]);
    }

    fn text_right(&mut self, right: f32, y: f32, size: f32, bold: bool, text: &str) {
        let text = printable(text);
        self.text(right - text_width(&text, size, bold), y, size, bold, &text);
    }

    fn fill(&mut self, (r, g, b): (f32, f32, f32)) {
        self.ops.push(Op::SetFillColor {
            col: Color::Rgb(Rgb {
                r,
                g,
                b,
                icc_profile: None,
            }),
        });
    }

    fn rule(&mut self, x1: f32, x2: f32, y: f32) {
        let point = |x| LinePoint {
            p: Point::new(Mm(x), Mm(y)),
            bezier: false,
        };
        self.ops.extend([
            Op::SetOutlineThickness { pt: Pt(0.5) },
            Op::DrawLine {
                line: Line {
                    points: vec![point(x1), point(x2)],
                    is_closed: false,
                },
            },
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(rows: usize) -> Document {
        let party = |name: &str| Party {
            heading: "De".into(),
            lines: vec![name.into()],
        };
        Document {
            key: "invoice:test".into(),
            title: "FATURA".into(),
            number: "2026-000001".into(),
            number_label: "Número".into(),
            stamp: None,
            from: party("Operador"),
            to: party("Cliente"),
            facts: vec![("Emissão".into(), "01/03/2026".into())],
            columns: ["Descrição", "Qtd.", "Preço unit.", "Valor"].map(String::from),
            rows: (0..rows)
                .map(|i| Row {
                    description: format!("Linha {i}"),
                    quantity: "1".into(),
                    unit_price: "R$ 1,00".into(),
                    amount: "R$ 1,00".into(),
                })
                .collect(),
            totals: vec![("Total".into(), "R$ 1,00".into())],
            page_words: ("Página".into(), "de".into()),
        }
    }

    #[test]
    fn the_same_document_gives_the_same_bytes_and_another_other_bytes() {
        let one = render(&doc(3)).expect("render");
        assert!(one.starts_with(b"%PDF-"));
        assert_eq!(one, render(&doc(3)).expect("render"));
        assert_ne!(one, render(&doc(4)).expect("render"));
    }

    #[test]
    fn rows_flow_onto_more_pages() {
        assert_eq!(paginate(&doc(1)).len(), 1);
        assert!(paginate(&doc(200)).len() > 4);
    }
}
