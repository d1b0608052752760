/*!
Building blocks of the printable pages: escaping of untrusted text, number and size formatting in
the page's language, and the one style sheet every page carries inline.

Disk labels, file names and failure reasons come from disks and error messages we do not control.
Every such string goes through [`text`]: control characters and Unicode direction overrides (which
could make a printed label read backwards) are replaced, overlong strings are shortened, and the
five HTML metacharacters are escaped, so nothing a disk carries can add markup to a page.
*/

use crate::config::Language;

/// Escapes the HTML metacharacters (`& < > " '`).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether a character changes the direction of the text around it (a printed label could be
/// made to read as something else).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Untrusted text made safe to show: control characters become spaces, direction overrides `?`,
/// and anything longer than `max` characters is cut with `…`.
pub fn clean(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('\u{2026}');
            break;
        }
        if c.is_control() {
            out.push(' ');
        } else if is_bidi_control(c) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// Escaped text in which the SOP's code never breaks across lines (Chromium breaks after `-`).
pub fn esc_sop(s: &str) -> String {
    esc(s).replace(
        super::texts::SOP_CODE,
        &format!("<span class=\"nw\">{}</span>", super::texts::SOP_CODE),
    )
}

/// Escaped text in which every `dd-mm-yyyy` date stays on one line.
pub fn keep_dates(escaped: &str) -> String {
    let b = escaped.as_bytes();
    let is_date = |i: usize| {
        b.len() >= i + 10
            && (0..10).all(|k| match k {
                2 | 5 => b[i + k] == b'-',
                _ => b[i + k].is_ascii_digit(),
            })
            && (i == 0 || !b[i - 1].is_ascii_digit())
    };
    let mut out = String::with_capacity(escaped.len() + 64);
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        if is_date(i) {
            out.push_str(&escaped[last..i]);
            out.push_str("<span class=\"nw\">");
            out.push_str(&escaped[i..i + 10]);
            out.push_str("</span>");
            i += 10;
            last = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&escaped[last..]);
    out
}

/// Untrusted text for an HTML page: cleaned ([`clean`], at most 400 characters) and escaped.
pub fn text(s: &str) -> String {
    esc(&clean(s, 400))
}

/// A whole number with the language's thousands separator (`12.345` / `12,345`).
pub fn group(n: u64, lang: Language) -> String {
    let sep = match lang {
        Language::Id => '.',
        Language::En => ',',
    };
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// A size as people read it (`1,5 GB` in Indonesian, `1.5 GB` in English); 1 KB = 1024 bytes,
/// as file managers show it.
pub fn human_size(bytes: u64, lang: Language) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if bytes < 1024 {
        return format!("{} B", bytes);
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let s = if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    };
    let s = match lang {
        Language::Id => s.replace('.', ","),
        Language::En => s,
    };
    format!("{s} {}", UNITS[unit])
}

/// The style sheet of every page: an A4 sheet on screen, the same layout on paper.
pub const CSS: &str = r#"
@page { size: A4 portrait; margin: 13mm 12mm 15mm 12mm; }
* { box-sizing: border-box; }
html { background: #d5d9de; }
body {
  margin: 0 auto; width: 210mm; min-height: 297mm; padding: 13mm 12mm 15mm 12mm;
  background: #fff; color: #111;
  font-family: Arial, "Liberation Sans", Helvetica, "DejaVu Sans", sans-serif;
  font-size: 9pt; line-height: 1.3;
  -webkit-print-color-adjust: exact; print-color-adjust: exact;
}
@media print {
  html { background: none; }
  body { width: auto; min-height: 0; margin: 0; padding: 0; }
}
@media screen and (max-width: 800px) { html { background: #fff; } }
@media screen and (max-width: 700px) { body { width: auto; min-height: 0; padding: 6mm; } }
header.doc { border-bottom: 2px solid #111; padding-bottom: 2.5mm; margin-bottom: 3.5mm; }
header.doc .org { font-size: 8pt; letter-spacing: .04em; text-transform: uppercase; color: #333; }
h1 { font-size: 15pt; margin: .5mm 0 .5mm 0; }
h2 { font-size: 10.5pt; margin: 4mm 0 1.5mm 0; border-bottom: 1px solid #999; padding-bottom: .6mm;
     break-after: avoid; page-break-after: avoid; }
p { margin: 1mm 0 2mm 0; }
.sub { color: #333; font-size: 9pt; margin: 0; }
p.intro { margin: 0 0 3mm 0; }
table { border-collapse: collapse; }
table.meta td { padding: .5mm 4mm .5mm 0; vertical-align: top; }
table.meta td.k { color: #333; white-space: nowrap; }
table.meta td.v { font-weight: bold; }
table.grid { width: 100%; font-size: 8.2pt; }
table.fixed { table-layout: fixed; }
table.grid th, table.grid td { border: 1px solid #666; padding: .7mm 1.3mm; vertical-align: top;
                               overflow-wrap: anywhere; }
table.grid th { background: #e8eaed; text-align: left; font-weight: bold; font-size: 7.8pt;
                overflow-wrap: normal; }
table.grid th .s { display: block; font-weight: normal; font-size: 7.3pt; color: #333; }
table.grid.compact { font-size: 7.6pt; }
table.grid tfoot td { font-weight: bold; background: #f1f2f4; }
thead { display: table-header-group; }
tfoot { display: table-row-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
td.n, th.n { text-align: center; }
td.r, th.r { text-align: right; }
td.n, td.r { white-space: nowrap; }
td.nw { white-space: nowrap; }
tr.weekend td.d { color: #555; }
tr.gap td { background: #f6e3e1; }
tr.muted td { color: #777; }
.bad { font-weight: bold; }
.z { color: #9a9a9a; }
.nw, span.nw { white-space: nowrap; }
.gapnote { font-weight: bold; }
.gapnote::before { content: "\25B2\00A0"; font-size: 7pt; }
.mono { font-family: "Liberation Mono", "DejaVu Sans Mono", Consolas, "Courier New", monospace;
        font-size: 7.8pt; }
.hash { font-family: "Liberation Mono", "DejaVu Sans Mono", Consolas, "Courier New", monospace;
        font-size: 7.8pt; word-break: break-all; }
table.index td.hash { font-size: 7.2pt; }
table.index td.mono { font-size: 7.2pt; }
.box { border: 1.5px solid #111; padding: 1.5mm 3mm; margin: 3.5mm 0 3mm 0; }
.box p { margin: .5mm 0; }
.box.alert { border-width: 2.5px; }
.box.ok { border-color: #555; }
.small { font-size: 7.6pt; color: #333; }
ul.gaps { margin: 1mm 0; padding-left: 1mm; list-style: none; }
ul.gaps li { margin: .6mm 0; break-inside: avoid; }
pre.cmd { font-family: "Liberation Mono", "DejaVu Sans Mono", Consolas, "Courier New", monospace;
          font-size: 7.8pt;
          background: #f3f4f6; border: 1px solid #bbb; padding: 1.5mm 2mm; margin: 1mm 0 2mm 0;
          white-space: pre-wrap; overflow-wrap: anywhere; }
.sign { display: flex; gap: 8mm; margin-top: 6mm; break-inside: avoid; page-break-inside: avoid; }
.sign .who { flex: 1; border: 1px solid #666; padding: 2mm 3mm; }
.sign .who.half { flex: 0 0 50%; margin-left: auto; }
.sign .title { font-weight: bold; margin-bottom: .5mm; }
.sign .role { color: #333; margin-bottom: 2mm; }
.sign table { width: 100%; }
.sign td { padding: 1.4mm 0; vertical-align: bottom; }
.sign td.k { width: 26mm; white-space: nowrap; }
.sign td.line { border-bottom: 1px dotted #111; }
.sign td.tall { height: 20mm; }
.sign .who.wide table td.k { width: 18mm; }
.sign .who.wide table td.space { width: 8mm; }
.sign .who.wide table td.sigbox { width: 62mm; height: 24mm; border: 1px dotted #111;
                                 vertical-align: top; padding: 1mm 2mm; color: #555; }
.hdrrow { display: flex; justify-content: space-between; align-items: flex-end; gap: 6mm; }
.docno { text-align: right; font-size: 8pt; border: 1.5px solid #111; padding: 1.5mm 2.5mm;
         white-space: nowrap; }
table.kv th { width: 44mm; background: #f1f2f4; font-weight: normal; font-size: 8.2pt; }
table.archive { width: 100%; margin-top: 4mm; }
table.archive td { padding: 1.4mm 0; vertical-align: bottom; }
table.archive td.k { width: 30mm; white-space: nowrap; }
table.archive td.line { border-bottom: 1px dotted #111; }
footer.doc { margin-top: 5mm; border-top: 1px solid #999; padding-top: 1.2mm; font-size: 7.3pt;
             color: #444; }
"#;

/// A CSS string literal: quotes, backslashes, line breaks and `<` escaped, so the text can
/// neither end the string nor the style element.
pub fn css_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in clean(s, 200).chars() {
        match c {
            '"' | '\\' | '<' | '>' => out.push_str(&format!("\\{:X} ", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A whole page: `<!DOCTYPE html>`, the language, the title, the inline style and the body.
/// On paper every page carries `running` (the document and its period) at the top left and
/// "Halaman N dari M" at the bottom right.
pub fn page(t: &super::texts::Texts, title: &str, running: &str, body: &str) -> String {
    let margins = format!(
        "@page {{ @top-left {{ content: {}; font: 7pt Arial, \"Liberation Sans\", sans-serif; color: #555; }}\n\
         @bottom-right {{ content: {} counter(page) {} counter(pages); font: 7pt Arial, \"Liberation Sans\", sans-serif; color: #555; }} }}\n",
        css_string(running),
        css_string(&format!("{} ", t.page_word)),
        css_string(&format!(" {} ", t.page_of)),
    );
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"simdondar-backup {version}\">\n\
         <title>{title}</title>\n<style>{CSS}{margins}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        lang = esc(t.html_lang),
        title = esc(title),
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// A signature block as Indonesian forms lay it out: a title (e.g. "Diperiksa oleh"), an
/// optional role line, then blank lines for the date, the signature (a tall space), the name and,
/// when `position` is true, the position.
pub fn signature_block(
    t: &super::texts::Texts,
    title: &str,
    role: Option<&str>,
    position: bool,
    class: &str,
) -> String {
    let line = |label: &str, extra: &str| {
        format!(
            "<tr><td class=\"k{extra}\">{}</td><td class=\"line{extra}\">&nbsp;</td></tr>",
            esc(label)
        )
    };
    let mut s = format!(
        "<div class=\"who {class}\"><div class=\"title\">{}</div>",
        esc(title)
    );
    if let Some(r) = role {
        s.push_str(&format!("<div class=\"role\">{}</div>", esc(r)));
    }
    s.push_str("<table>");
    s.push_str(&line(t.sig_date, ""));
    s.push_str(&line(t.sig_signature, " tall"));
    s.push_str(&line(t.sig_name, ""));
    if position {
        s.push_str(&line(t.sig_position, ""));
    }
    s.push_str("</table></div>");
    s
}

/// A full-width signature strip: the blanks for name, position and date on the left, a box to
/// sign in on the right (the report's "Diperiksa oleh").
pub fn signature_strip(t: &super::texts::Texts, title: &str) -> String {
    let line = |label: &str| {
        format!(
            "<td class=\"k\">{}</td><td class=\"line\">&nbsp;</td><td class=\"space\"></td>",
            esc(label)
        )
    };
    format!(
        "<div class=\"sign\"><div class=\"who wide\"><div class=\"title\">{}</div><table>\
         <tr>{}<td class=\"sigbox\" rowspan=\"3\">{}</td></tr>\
         <tr>{}</tr><tr>{}</tr></table></div></div>\n",
        esc(title),
        line(t.sig_name),
        esc(t.sig_signature),
        line(t.sig_position),
        line(t.sig_date)
    )
}

/// ` · audit log when written: entry #1234 · 3fa2…9c01` for a footer, or nothing without an
/// anchor ([`crate::audit_anchor`]); escaped.
pub fn anchor_note(
    t: &super::texts::Texts,
    anchor: Option<&crate::audit_anchor::Anchor>,
) -> String {
    anchor
        .map(|a| {
            format!(
                " &middot; {}",
                esc(&super::texts::fill(
                    t.audit_anchor,
                    &[("anchor", &a.short())]
                ))
            )
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_neutralises_hostile_text() {
        assert_eq!(
            text("<script>alert('x')</script>&\"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;q&quot;"
        );
        assert_eq!(clean("a\nb\u{202E}c\u{0}", 100), "a b?c ");
        assert_eq!(
            keep_dates("terakhir 05-11-2026) dan 1-2-3 12345-11-2026x"),
            "terakhir <span class=\"nw\">05-11-2026</span>) dan 1-2-3 12345-11-2026x"
        );
        let long = "x".repeat(1000);
        let c = clean(&long, 10);
        assert_eq!(c.chars().count(), 11);
        assert!(c.ends_with('\u{2026}'));
    }

    #[test]
    fn numbers_and_sizes_follow_the_language() {
        assert_eq!(group(0, Language::Id), "0");
        assert_eq!(group(1234567, Language::Id), "1.234.567");
        assert_eq!(group(1234567, Language::En), "1,234,567");
        assert_eq!(group(999, Language::En), "999");
        assert_eq!(human_size(512, Language::Id), "512 B");
        assert_eq!(human_size(1536, Language::Id), "1,5 KB");
        assert_eq!(human_size(1536, Language::En), "1.5 KB");
        assert_eq!(human_size(3 << 30, Language::En), "3.0 GB");
        assert_eq!(human_size(250 << 20, Language::Id), "250 MB");
    }
}
