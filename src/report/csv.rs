/*!
CSV as RFC 4180 writes it: fields separated by commas, records ended by CRLF, a field quoted when
it holds a comma, a double quote, CR or LF (quotes doubled inside), UTF-8 without a byte-order
mark.

Text that comes from disks or errors is also guarded against spreadsheet formulas: a cell that
would start with `=`, `+`, `-`, `@`, TAB or CR gets a leading `'`, so opening the file in a
spreadsheet never runs anything a disk label smuggled in.
*/

/// A CSV document being written.
#[derive(Debug, Default)]
pub struct Csv {
    out: String,
}

impl Csv {
    pub fn new() -> Csv {
        Csv::default()
    }

    /// Appends one record.
    pub fn row<I, S>(&mut self, fields: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for (i, f) in fields.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            push_field(&mut self.out, f.as_ref());
        }
        self.out.push_str("\r\n");
    }

    /// The document.
    pub fn finish(self) -> String {
        self.out
    }
}

fn push_field(out: &mut String, f: &str) {
    if f.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&f.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(f);
    }
}

/// Untrusted text for a CSV cell: a leading formula character is defused with `'`.
pub fn untrusted(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_as_rfc_4180_says() {
        let mut c = Csv::new();
        c.row(["a", "b,c", "say \"hi\"", "line\nbreak", ""]);
        c.row(["1", "2"]);
        assert_eq!(
            c.finish(),
            "a,\"b,c\",\"say \"\"hi\"\"\",\"line\nbreak\",\r\n1,2\r\n"
        );
    }

    #[test]
    fn defuses_formulas_in_untrusted_text() {
        assert_eq!(untrusted("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(untrusted("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(untrusted("HDD-UTAMA"), "HDD-UTAMA");
        assert_eq!(untrusted(""), "");
    }
}
