/*!
Rows per table, counted while a `mariadb-dump` stream goes by (issue 7): the numbers a restore
test later compares with `SELECT COUNT(*)`, recorded in the manifest's `tables`.

[`RowCounter`] is a byte-level state machine over the dump as the `mariadb` client would read it.
It is fed the raw blocks in whatever chunking they arrive (a block may split any token) and keeps
no more than a few names in memory, so it runs in the stream at a few hundred MB/s or more.

What it understands, after the output of `mariadb-dump --databases … --hex-blob --quick
--add-drop-table --routines --events --triggers` (extended inserts), MariaDB 10.11:

- `USE \`db\`;` sets the database the following tables belong to (keys are `db.table`; a table
  seen before any `USE` is keyed by its bare name).
- `CREATE TABLE \`t\`` (also `CREATE OR REPLACE TABLE`, `IF NOT EXISTS`, `db`-qualified names)
  records the table with 0 rows, so empty tables appear. `CREATE TEMPORARY TABLE`, `CREATE VIEW`,
  `CREATE SEQUENCE` and everything else are not tables.
- `INSERT [IGNORE] INTO \`t\` [(columns)] VALUES (…),(…);` and `REPLACE INTO` add one row per
  top-level tuple. A tuple counts once its closing parenthesis is seen, and the statement's rows
  count once the statement ends properly (the server rejects a malformed statement as a whole).
  `INSERT … SELECT` and `INSERT … SET` are not counted.
- Quoting: `'…'` and `"…"` strings with backslash escapes and doubled quotes, `` `…` ``
  identifiers with doubled backticks; hex literals, `NULL`, numbers are plain words. Strings may
  hold `),(`, `;`, newlines, backticks, comment markers, `DELIMITER` — none of it counts.
- Comments are ignored: `-- ` and `#` to the end of the line, `/* … */`, and the executable
  comments `/*! … */` and `/*M! … */`. The latter are lexed (their strings may hold the closing `*` `/`) but
  nothing in them counts: that is where the dump puts `SET` statements, trigger bodies, and the
  stand-ins for views (`/*!50001 CREATE VIEW … */` in 10.11, `/*!50001 CREATE TABLE … */` in
  older dumps), so a view is never reported as a table.
- `DELIMITER ;;` … `DELIMITER ;`: statements end where the client would end them; while the
  delimiter is not `;` (stored procedures, functions, triggers, events) no row is counted and no
  table recorded, even if a routine's body holds an `INSERT … VALUES`.

It is not a SQL parser: it only needs to agree with the server about where statements, strings
and tuples begin and end in what `mariadb-dump` writes.
*/

use std::collections::BTreeMap;

/// Bytes kept of a name, keyword or delimiter (MariaDB names are at most 64 characters).
const MAX_NAME: usize = 1024;
/// Bytes kept of a `DELIMITER` argument.
const MAX_DELIMITER: usize = 16;

/// Where the lexer is inside the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// Outside strings, identifiers and comments.
    Normal,
    /// Inside a string quoted by the byte.
    Quote(u8),
    /// After a backslash inside a string.
    QuoteEsc(u8),
    /// Inside a `` `…` `` identifier.
    Ident,
    /// A backtick inside an identifier: its end, unless another backtick follows.
    IdentTick,
    /// After `/`.
    Slash,
    /// After `/*`: `!` or `M!` makes it an executable comment.
    CommentOpen,
    /// After `/*M`.
    CommentM,
    /// Inside a plain `/* … */` comment.
    Block,
    /// After `*` inside a plain comment.
    BlockStar,
    /// After `*` inside an executable comment.
    ExecStar,
    /// After `-`.
    Dash,
    /// After `--`: a comment if a space or control character follows.
    DashDash,
    /// Inside a `-- ` or `#` comment.
    Line,
    /// After `DELIMITER`: spaces before its argument.
    DelimSpace,
    /// The `DELIMITER` argument.
    DelimArg,
    /// The rest of the `DELIMITER` line.
    DelimRest,
}

/// What a name being read is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Use,
    /// `reset`: without `IF NOT EXISTS`, the table starts empty.
    Create {
        reset: bool,
    },
    Insert,
}

/// Where the parser is inside a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the statement's first token.
    Start,
    /// The rest of a statement that does not matter.
    Skip,
    /// After `USE`.
    Use,
    /// After `CREATE` (and `OR REPLACE`).
    Create,
    /// After `CREATE TABLE` (and `IF NOT EXISTS`).
    CreateTable { reset: bool },
    /// After `INSERT`/`REPLACE` and its modifiers.
    Insert,
    /// One name read; a `.` makes it the database of the next.
    Name1(Want),
    /// After `name.`.
    Dot(Want),
    /// `db.name` read.
    Name2(Want),
    /// After `INSERT INTO name`: an optional column list, then `VALUES`.
    InsertNamed,
    /// Inside the column list, at this depth.
    Columns(u32),
    /// Expecting a tuple.
    Values,
    /// Inside a tuple (depth in `RowCounter::depth`).
    Tuple,
    /// After a tuple: `,` or the end.
    AfterTuple,
}

/// What the lexer hands the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// A bare word (keyword, unquoted name, number); in `RowCounter::word`.
    Word,
    /// A backtick-quoted name; in `RowCounter::ident`.
    Name,
    /// A string.
    Str,
    /// Any other byte outside strings, names and comments.
    Punct(u8),
}

/// Counts the rows of every table in a dump; see the module documentation.
#[derive(Debug, Clone)]
pub struct RowCounter {
    lex: Lex,
    /// Inside an executable comment `/*! … */`: lexed, nothing counts.
    exec: bool,
    phase: Phase,
    /// The statement delimiter (`;` unless changed by `DELIMITER`).
    delim: Vec<u8>,
    /// Bytes of the delimiter matched so far.
    dmatch: usize,
    /// Bytes that end the fast skip over uninteresting bytes.
    special: [bool; 256],
    /// Whether `skip_plain` may look at eight bytes at a time.
    swar: bool,
    /// The bare word being read (only in phases that look at words).
    word: Vec<u8>,
    in_word: bool,
    /// The backtick name being read.
    ident: Vec<u8>,
    /// The `DELIMITER` argument being read.
    delim_arg: Vec<u8>,
    /// A name read for a `USE`, `CREATE TABLE` or `INSERT`, and its qualified second part.
    name1: Vec<u8>,
    name2: Vec<u8>,
    qualified: bool,
    /// The current database (`USE`).
    db: Option<String>,
    /// `db.table` of the `INSERT` being counted.
    key: String,
    /// Tuples completed in the current `INSERT`.
    rows: u64,
    /// Parenthesis depth inside a tuple.
    depth: u32,
    tables: BTreeMap<String, u64>,
}

impl Default for RowCounter {
    fn default() -> Self {
        RowCounter::new()
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Eight bytes as a little-endian word (`c` has eight bytes).
fn word(c: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(c);
    u64::from_le_bytes(a)
}

/// High bits set at zero bytes of `v`; exact for the lowest one (higher ones may be false).
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(LO) & !v & HI
}

/// Non-zero when some byte of `v` is below `n` (`n` ≤ 0x80).
fn less_than(v: u64, n: u8) -> u64 {
    v.wrapping_sub(LO * u64::from(n)) & !v & HI
}

/// Where the string quoted by `q` ends or escapes in `s`: the first `q` or backslash.
fn find_quote_end(s: &[u8], q: u8) -> Option<usize> {
    let (qq, bs) = (LO * u64::from(q), LO * u64::from(b'\\'));
    let mut i = 0;
    for c in s.chunks_exact(8) {
        let v = word(c);
        let m = zero_bytes(v ^ qq) | zero_bytes(v ^ bs);
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s[i..]
        .iter()
        .position(|&c| c == q || c == b'\\')
        .map(|k| i + k)
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn kw(word: &[u8], keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword.as_bytes())
}

impl RowCounter {
    /// A counter at the start of a dump.
    pub fn new() -> RowCounter {
        let mut c = RowCounter {
            lex: Lex::Normal,
            exec: false,
            phase: Phase::Start,
            delim: Vec::new(),
            dmatch: 0,
            special: [false; 256],
            swar: false,
            word: Vec::with_capacity(64),
            in_word: false,
            ident: Vec::with_capacity(64),
            delim_arg: Vec::new(),
            name1: Vec::with_capacity(64),
            name2: Vec::with_capacity(64),
            qualified: false,
            db: None,
            key: String::new(),
            rows: 0,
            depth: 0,
            tables: BTreeMap::new(),
        };
        c.set_delimiter(b";");
        c
    }

    /// Feeds the next raw bytes of the dump, in any chunking (a chunk may split a token anywhere).
    pub fn feed(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        let mut i = 0;
        while i < n {
            // Fast paths over the bulk of a dump: string contents, tuple contents, skipped text.
            match self.lex {
                Lex::Quote(q) => {
                    match find_quote_end(&bytes[i..], q) {
                        None => return,
                        Some(k) => {
                            let c = bytes[i + k];
                            i += k + 1;
                            if c == b'\\' {
                                self.lex = Lex::QuoteEsc(q);
                            } else {
                                self.lex = Lex::Normal;
                                self.string_done();
                            }
                        }
                    }
                    continue;
                }
                Lex::Normal
                    if !self.exec
                        && !self.in_word
                        && self.dmatch == 0
                        && matches!(self.phase, Phase::Tuple | Phase::Skip) =>
                {
                    i += self.skip_plain(&bytes[i..]);
                    if i == n {
                        return;
                    }
                }
                Lex::Block => match bytes[i..].iter().position(|&c| c == b'*') {
                    None => return,
                    Some(k) => {
                        i += k + 1;
                        self.lex = Lex::BlockStar;
                        continue;
                    }
                },
                Lex::Line => match bytes[i..].iter().position(|&c| c == b'\n') {
                    None => return,
                    Some(k) => {
                        i += k + 1;
                        self.lex = Lex::Normal;
                        continue;
                    }
                },
                _ => {}
            }
            if self.step(bytes[i]) {
                i += 1;
            }
        }
    }

    /// `"db.table"` → rows inserted, for every table seen in a `CREATE TABLE` or an `INSERT`
    /// (0 when created but empty). A last statement cut off inside a string, a name or a
    /// comment does not count.
    pub fn finish(mut self) -> BTreeMap<String, u64> {
        if !self.exec {
            match self.lex {
                Lex::Normal | Lex::Line | Lex::Slash | Lex::Dash | Lex::DashDash => {
                    self.flush_word();
                    self.end_statement();
                }
                Lex::IdentTick => {
                    self.token(Tok::Name);
                    self.end_statement();
                }
                _ => {}
            }
        }
        self.tables
    }

    fn set_delimiter(&mut self, d: &[u8]) {
        self.delim = d.to_vec();
        self.dmatch = 0;
        self.special = [false; 256];
        for b in [b'\'', b'"', b'`', b'(', b')', b'/', b'-', b'#'] {
            self.special[b as usize] = true;
        }
        if let Some(&first) = d.first() {
            self.special[first as usize] = true;
        }
        self.swar = self
            .special
            .iter()
            .enumerate()
            .all(|(b, &sp)| !sp || b < 0x30 || b == 0x3b || b == 0x60);
    }

    /// The length of the prefix of `s` without a special byte.
    fn skip_plain(&self, s: &[u8]) -> usize {
        let mut i = 0;
        if self.swar {
            // Eight bytes at a time past words that cannot hold a special byte: every special
            // byte is below 0x30, a `;` or a backtick (hex digits, letters are not).
            for c in s.chunks_exact(8) {
                let v = word(c);
                if less_than(v, 0x30) | zero_bytes(v ^ (LO * 0x3b)) | zero_bytes(v ^ (LO * 0x60))
                    != 0
                {
                    if let Some(k) = c.iter().position(|&b| self.special[b as usize]) {
                        return i + k;
                    }
                }
                i += 8;
            }
        }
        while i < s.len() && !self.special[s[i] as usize] {
            i += 1;
        }
        i
    }

    /// Handles one byte outside the fast paths; false when the byte must be looked at again
    /// (in the lexer state it just moved to).
    fn step(&mut self, b: u8) -> bool {
        match self.lex {
            Lex::Normal => return self.normal(b),
            Lex::Quote(q) => {
                if b == b'\\' {
                    self.lex = Lex::QuoteEsc(q);
                } else if b == q {
                    self.lex = Lex::Normal;
                    self.string_done();
                }
            }
            Lex::QuoteEsc(q) => self.lex = Lex::Quote(q),
            Lex::Ident => {
                if b == b'`' {
                    self.lex = Lex::IdentTick;
                } else if self.ident.len() < MAX_NAME {
                    self.ident.push(b);
                }
            }
            Lex::IdentTick => {
                if b == b'`' {
                    if self.ident.len() < MAX_NAME {
                        self.ident.push(b'`');
                    }
                    self.lex = Lex::Ident;
                } else {
                    self.lex = Lex::Normal;
                    if !self.exec {
                        self.token(Tok::Name);
                    }
                    return false;
                }
            }
            Lex::Slash => {
                if b == b'*' {
                    self.lex = Lex::CommentOpen;
                } else {
                    self.lex = Lex::Normal;
                    if !self.exec {
                        self.token(Tok::Punct(b'/'));
                    }
                    return false;
                }
            }
            Lex::CommentOpen => match b {
                b'!' => {
                    self.exec = true;
                    self.lex = Lex::Normal;
                }
                b'M' => self.lex = Lex::CommentM,
                _ => {
                    self.lex = Lex::Block;
                    return false;
                }
            },
            Lex::CommentM => {
                if b == b'!' {
                    self.exec = true;
                    self.lex = Lex::Normal;
                } else {
                    self.lex = Lex::Block;
                    return false;
                }
            }
            Lex::Block => {
                if b == b'*' {
                    self.lex = Lex::BlockStar;
                }
            }
            Lex::BlockStar => match b {
                b'/' => self.lex = Lex::Normal,
                b'*' => {}
                _ => self.lex = Lex::Block,
            },
            Lex::ExecStar => {
                if b == b'/' {
                    self.exec = false;
                    self.lex = Lex::Normal;
                } else {
                    self.lex = Lex::Normal;
                    return false;
                }
            }
            Lex::Dash => {
                if b == b'-' {
                    self.lex = Lex::DashDash;
                } else {
                    self.lex = Lex::Normal;
                    if !self.exec {
                        self.token(Tok::Punct(b'-'));
                    }
                    return false;
                }
            }
            Lex::DashDash => {
                if b <= b' ' {
                    // `-- ` starts a comment; a newline right after it also ends it.
                    self.lex = if b == b'\n' { Lex::Normal } else { Lex::Line };
                } else {
                    self.lex = Lex::Normal;
                    if !self.exec {
                        self.token(Tok::Punct(b'-'));
                        self.token(Tok::Punct(b'-'));
                    }
                    return false;
                }
            }
            Lex::Line => {
                if b == b'\n' {
                    self.lex = Lex::Normal;
                }
            }
            Lex::DelimSpace => match b {
                b' ' | b'\t' => {}
                b'\n' | b'\r' => self.lex = Lex::Normal,
                _ => {
                    self.delim_arg.clear();
                    self.delim_arg.push(b);
                    self.lex = Lex::DelimArg;
                }
            },
            Lex::DelimArg => {
                if is_space(b) {
                    let d = std::mem::take(&mut self.delim_arg);
                    self.set_delimiter(&d);
                    self.lex = if b == b'\n' {
                        Lex::Normal
                    } else {
                        Lex::DelimRest
                    };
                } else if self.delim_arg.len() < MAX_DELIMITER {
                    self.delim_arg.push(b);
                }
            }
            Lex::DelimRest => {
                if b == b'\n' {
                    self.lex = Lex::Normal;
                }
            }
        }
        true
    }

    /// A byte outside strings, names and comments (also inside an executable comment).
    fn normal(&mut self, b: u8) -> bool {
        if b == self.delim[self.dmatch] {
            self.dmatch += 1;
            if self.dmatch == self.delim.len() {
                self.dmatch = 0;
                if !self.exec {
                    self.flush_word();
                }
                self.end_statement();
            }
            return true;
        }
        if self.dmatch > 0 {
            // A partial delimiter that did not complete: look at this byte afresh.
            self.dmatch = 0;
            return false;
        }
        if self.exec {
            match b {
                b'*' => self.lex = Lex::ExecStar,
                b'\'' | b'"' => self.lex = Lex::Quote(b),
                b'`' => {
                    self.ident.clear();
                    self.lex = Lex::Ident;
                }
                b'/' => self.lex = Lex::Slash,
                b'-' => self.lex = Lex::Dash,
                b'#' => self.lex = Lex::Line,
                _ => {}
            }
            return true;
        }
        if is_ident_byte(b) {
            if !matches!(self.phase, Phase::Tuple | Phase::Skip) {
                if self.word.len() < MAX_NAME {
                    self.word.push(b);
                }
                self.in_word = true;
            }
            return true;
        }
        if self.in_word {
            self.flush_word();
            return false;
        }
        match b {
            b'\'' | b'"' => self.lex = Lex::Quote(b),
            b'`' => {
                self.ident.clear();
                self.lex = Lex::Ident;
            }
            b'/' => self.lex = Lex::Slash,
            b'-' => self.lex = Lex::Dash,
            b'#' => self.lex = Lex::Line,
            _ if is_space(b) => {}
            _ => self.token(Tok::Punct(b)),
        }
        true
    }

    fn flush_word(&mut self) {
        if self.in_word {
            self.in_word = false;
            self.token(Tok::Word);
            self.word.clear();
        }
    }

    fn string_done(&mut self) {
        if !self.exec && !matches!(self.phase, Phase::Tuple | Phase::Skip) {
            self.token(Tok::Str);
        }
    }

    /// The delimiter (or the end of the input) ends the statement.
    fn end_statement(&mut self) {
        match self.phase {
            Phase::Name1(w) | Phase::Name2(w) => self.resolve(w),
            Phase::AfterTuple => self.flush_rows(),
            _ => {}
        }
        self.phase = Phase::Start;
        self.rows = 0;
        self.depth = 0;
    }

    fn flush_rows(&mut self) {
        let key = std::mem::take(&mut self.key);
        *self.tables.entry(key).or_insert(0) += self.rows;
        self.rows = 0;
    }

    /// Takes the word or name just read as `name1` (or `name2` after a dot).
    fn take_name(&mut self, t: Tok, second: bool) {
        let src = if t == Tok::Word {
            &self.word
        } else {
            &self.ident
        };
        let dst = if second {
            &mut self.name2
        } else {
            &mut self.name1
        };
        dst.clear();
        dst.extend_from_slice(src);
        self.qualified = second;
    }

    fn plain_delimiter(&self) -> bool {
        self.delim == b";"
    }

    /// A complete (possibly qualified) name for `w`.
    fn resolve(&mut self, w: Want) {
        let key = || -> String {
            if self.qualified {
                format!(
                    "{}.{}",
                    String::from_utf8_lossy(&self.name1),
                    String::from_utf8_lossy(&self.name2)
                )
            } else {
                match &self.db {
                    Some(db) => format!("{db}.{}", String::from_utf8_lossy(&self.name1)),
                    None => String::from_utf8_lossy(&self.name1).into_owned(),
                }
            }
        };
        match w {
            Want::Use => {
                self.db = Some(String::from_utf8_lossy(&self.name1).into_owned());
                self.phase = Phase::Skip;
            }
            Want::Create { reset } => {
                let k = key();
                if reset {
                    self.tables.insert(k, 0);
                } else {
                    self.tables.entry(k).or_insert(0);
                }
                self.phase = Phase::Skip;
            }
            Want::Insert => {
                self.key = key();
                self.phase = Phase::InsertNamed;
            }
        }
    }

    fn token(&mut self, t: Tok) {
        let is_name = matches!(t, Tok::Word | Tok::Name);
        match self.phase {
            Phase::Start => {
                self.phase = Phase::Skip;
                if t == Tok::Word {
                    let w = &self.word;
                    if kw(w, "USE") {
                        self.phase = Phase::Use;
                    } else if kw(w, "INSERT") || kw(w, "REPLACE") {
                        if self.plain_delimiter() {
                            self.phase = Phase::Insert;
                        }
                    } else if kw(w, "CREATE") {
                        if self.plain_delimiter() {
                            self.phase = Phase::Create;
                        }
                    } else if kw(w, "DELIMITER") {
                        // A client command: its argument and the rest of the line, read raw.
                        self.phase = Phase::Start;
                        self.lex = Lex::DelimSpace;
                    }
                }
            }
            Phase::Skip => {}
            Phase::Use => {
                if is_name {
                    self.take_name(t, false);
                    self.phase = Phase::Name1(Want::Use);
                } else {
                    self.phase = Phase::Skip;
                }
            }
            Phase::Create => {
                if t == Tok::Word && (kw(&self.word, "OR") || kw(&self.word, "REPLACE")) {
                } else if t == Tok::Word && kw(&self.word, "TABLE") {
                    self.phase = Phase::CreateTable { reset: true };
                } else {
                    self.phase = Phase::Skip;
                }
            }
            Phase::CreateTable { .. }
                if t == Tok::Word
                    && (kw(&self.word, "IF")
                        || kw(&self.word, "NOT")
                        || kw(&self.word, "EXISTS")) =>
            {
                self.phase = Phase::CreateTable { reset: false };
            }
            Phase::CreateTable { reset } => {
                if is_name {
                    self.take_name(t, false);
                    self.phase = Phase::Name1(Want::Create { reset });
                } else {
                    self.phase = Phase::Skip;
                }
            }
            Phase::Insert => {
                let modifier = t == Tok::Word
                    && ["INTO", "IGNORE", "LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY"]
                        .iter()
                        .any(|k| kw(&self.word, k));
                if modifier {
                } else if is_name {
                    self.take_name(t, false);
                    self.phase = Phase::Name1(Want::Insert);
                } else {
                    self.phase = Phase::Skip;
                }
            }
            Phase::Name1(w) => {
                if t == Tok::Punct(b'.') {
                    self.phase = Phase::Dot(w);
                } else {
                    self.resolve(w);
                    self.token(t);
                }
            }
            Phase::Dot(w) => {
                if is_name {
                    self.take_name(t, true);
                    self.phase = Phase::Name2(w);
                } else {
                    self.phase = Phase::Skip;
                }
            }
            Phase::Name2(w) => {
                self.resolve(w);
                self.token(t);
            }
            Phase::InsertNamed => {
                if t == Tok::Punct(b'(') {
                    self.phase = Phase::Columns(1);
                } else if t == Tok::Word && (kw(&self.word, "VALUES") || kw(&self.word, "VALUE")) {
                    self.tables.entry(self.key.clone()).or_insert(0);
                    self.rows = 0;
                    self.phase = Phase::Values;
                } else {
                    self.phase = Phase::Skip;
                }
            }
            Phase::Columns(d) => match t {
                Tok::Punct(b'(') => self.phase = Phase::Columns(d.saturating_add(1)),
                Tok::Punct(b')') if d <= 1 => self.phase = Phase::InsertNamed,
                Tok::Punct(b')') => self.phase = Phase::Columns(d - 1),
                _ => {}
            },
            Phase::Values => {
                if t == Tok::Punct(b'(') {
                    self.depth = 1;
                    self.phase = Phase::Tuple;
                } else {
                    // `VALUES (…), x`: a syntax error the server rejects whole.
                    self.rows = 0;
                    self.phase = Phase::Skip;
                }
            }
            Phase::Tuple => match t {
                Tok::Punct(b'(') => self.depth = self.depth.saturating_add(1),
                Tok::Punct(b')') => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        self.rows += 1;
                        self.phase = Phase::AfterTuple;
                    }
                }
                _ => {}
            },
            Phase::AfterTuple => {
                if t == Tok::Punct(b',') {
                    self.phase = Phase::Values;
                } else {
                    // `… VALUES (…) ON DUPLICATE KEY UPDATE …`: the tuples stand.
                    self.flush_rows();
                    self.phase = Phase::Skip;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn count(dump: &[u8]) -> BTreeMap<String, u64> {
        let mut c = RowCounter::new();
        c.feed(dump);
        c.finish()
    }

    fn count_in_chunks(dump: &[u8], sizes: &[usize]) -> BTreeMap<String, u64> {
        let mut c = RowCounter::new();
        let mut rest = dump;
        let mut k = 0;
        while !rest.is_empty() {
            let n = sizes[k % sizes.len()].clamp(1, rest.len());
            c.feed(&rest[..n]);
            rest = &rest[n..];
            k += 1;
        }
        c.finish()
    }

    fn map(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    /// The shape of `mariadb-dump` 10.11 output (copied from a real dump of the test database,
    /// shortened), with rows whose strings hold everything that breaks naive counting.
    const DUMP: &str = r#"/*M!999999\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: localhost    Database: pmi
-- ------------------------------------------------------
-- Server version	10.11.19-MariaDB-0+deb12u1

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET NAMES utf8mb4 */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;

--
-- Current Database: `pmi`
--

CREATE DATABASE /*!32312 IF NOT EXISTS*/ `pmi` /*!40100 DEFAULT CHARACTER SET latin1 COLLATE latin1_swedish_ci */;

USE `pmi`;

--
-- Table structure for table `hasilelisa`
--

DROP TABLE IF EXISTS `hasilelisa`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `hasilelisa` (
  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `Metode` varchar(20) NOT NULL DEFAULT 'ELISA',
  `Catatan` varchar(255) DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=MyISAM AUTO_INCREMENT=761 DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci COMMENT='hasil uji; saring (IMLTD)';
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `hasilelisa`
--

LOCK TABLES `hasilelisa` WRITE;
/*!40000 ALTER TABLE `hasilelisa` DISABLE KEYS */;
INSERT INTO `hasilelisa` VALUES
(1,'ELISA','\'); DROP TABLE pendonor; --'),
(2,'ChLIA','nilai ),( tidak valid'),
(3,'ELISA','baris 1\nbaris 2\r\nbaris 3'),
(4,'ELISA','kutip \'\' ganda \"\" miring \\\\ akhir\\'),
(5,'ELISA','),(\'X\',\'Y\');\n'),
(6,'ELISA','*/ komentar /* palsu'),
(7,'ELISA','DELIMITER ;;'),
(8,'ELISA','-- bukan komentar'),
(9,'ELISA','#tagar `backtick` ``'),
(10,'ELISA',''),
(11,'ELISA','it''s doubled'),
(12,-3,NULL);
INSERT INTO `hasilelisa` VALUES
(13,'ELISA',NULL),
(14,'ELISA','ctrl-Z \Z di tengah; ada NUL\0di tengah');
/*!40000 ALTER TABLE `hasilelisa` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `htransaksi`
--

DROP TABLE IF EXISTS `htransaksi`;
CREATE TABLE `htransaksi` (
  `NoTrans` varchar(20) NOT NULL,
  `foto` blob DEFAULT NULL,
  PRIMARY KEY (`NoTrans`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci;

LOCK TABLES `htransaksi` WRITE;
INSERT INTO `htransaksi` VALUES ('T1',0x00272C295C0A3B),('T2',NULL),('T3',0x);
UNLOCK TABLES;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
/*!50003 SET sql_mode              = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION' */ ;
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `trg_htransaksi_ai` AFTER INSERT ON `htransaksi`
FOR EACH ROW
BEGIN
  UPDATE `pendonor` SET `JumlahDonor` = `JumlahDonor` + 1 WHERE `Kode` = NEW.`KodePendonor`;
  INSERT INTO `user_log` (`waktu`, `user`, `modul`, `aksi`, `ip`)
  VALUES (NEW.`Tgl`, COALESCE(NEW.`Petugas`, 'sistem'), 'transaksi',
          CONCAT('donor baru; kantong "*/', COALESCE(NEW.`NoKantong`, '-'), '"'), NULL);
  INSERT INTO `user_log` VALUES (1,2,3),(4,5,6);
END 
*/;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;

--
-- Table structure for table `tmp_import`
--

DROP TABLE IF EXISTS `tmp_import`;
CREATE TABLE `tmp_import` (
  `baris` int(11) NOT NULL,
  PRIMARY KEY (`baris`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci;

LOCK TABLES `tmp_import` WRITE;
/*!40000 ALTER TABLE `tmp_import` DISABLE KEYS */;
/*!40000 ALTER TABLE `tmp_import` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Temporary table structure for view `v_donor_aktif`
--

DROP TABLE IF EXISTS `v_donor_aktif`;
/*!50001 DROP VIEW IF EXISTS `v_donor_aktif`*/;
SET @saved_cs_client     = @@character_set_client;
SET character_set_client = utf8mb4;
/*!50001 CREATE VIEW `v_donor_aktif` AS SELECT
 1 AS `Kode`,
 1 AS `Nama` */;
SET character_set_client = @saved_cs_client;

--
-- Temporary table structure for view `v_lama` (the form of older dumps)
--

/*!50001 DROP TABLE IF EXISTS `v_lama`*/;
/*!50001 CREATE TABLE `v_lama` (
  `Kode` tinyint NOT NULL
) ENGINE=MyISAM */;

--
-- Dumping routines for database 'pmi'
--
DELIMITER ;;
CREATE DEFINER=`root`@`localhost` PROCEDURE `sp_isi`(IN p INT)
BEGIN
  INSERT INTO `tmp_import` VALUES (p), (p + 1);
  CREATE TABLE `tidak_ada` (x int);
END ;;
DELIMITER ;

--
-- Current Database: `sms`
--

CREATE DATABASE /*!32312 IF NOT EXISTS*/ `sms` /*!40100 DEFAULT CHARACTER SET latin1 */;

USE `sms`;

DROP TABLE IF EXISTS `hasilelisa`;
CREATE TABLE `hasilelisa` (`id` int);
INSERT INTO `hasilelisa` VALUES (1);
CREATE TABLE `nama``aneh; (x)` (`id` int);
INSERT INTO `nama``aneh; (x)` VALUES (1),(2);

--
-- Final view structure for view `v_donor_aktif`
--

USE `pmi`;
/*!50001 DROP VIEW IF EXISTS `v_donor_aktif`*/;
/*!50001 CREATE ALGORITHM=UNDEFINED */
/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */
/*!50001 VIEW `v_donor_aktif` AS select `p`.`Kode` AS `Kode` from `pendonor` `p` where `p`.`Nama` <> 'x;y*/' */;

-- Dump completed on 2026-11-26 13:01:44
"#;

    fn expected() -> BTreeMap<String, u64> {
        map(&[
            ("pmi.hasilelisa", 14),
            ("pmi.htransaksi", 3),
            ("pmi.tmp_import", 0),
            ("sms.hasilelisa", 1),
            ("sms.nama`aneh; (x)", 2),
        ])
    }

    #[test]
    fn counts_a_dump_shaped_like_mariadb_dump() {
        assert_eq!(count(DUMP.as_bytes()), expected());
    }

    #[test]
    fn one_byte_at_a_time_gives_the_same() {
        assert_eq!(count_in_chunks(DUMP.as_bytes(), &[1]), expected());
    }

    #[test]
    fn every_split_point_gives_the_same() {
        let d = DUMP.as_bytes();
        for i in 0..=d.len() {
            let mut c = RowCounter::new();
            c.feed(&d[..i]);
            c.feed(&d[i..]);
            assert_eq!(c.finish(), expected(), "split at byte {i}");
        }
    }

    #[test]
    fn every_pair_of_split_points_in_a_small_snippet_gives_the_same() {
        let d: &[u8] = b"USE `a``b`;\nCREATE TABLE `t` (x int);\n/*!40000 x */;\n\
            INSERT INTO `t` VALUES (1,'a\\'b),(\\\\',0x2829),(2,\"q\"\"\",NULL); -- c\n\
            DELIMITER ;;\nINSERT INTO `t` VALUES (9);;\nDELIMITER ;\n# x\nINSERT INTO t VALUES (3);";
        let want = map(&[("a`b.t", 3)]);
        assert_eq!(count(d), want);
        for i in 0..=d.len() {
            for j in i..=d.len() {
                let mut c = RowCounter::new();
                c.feed(&d[..i]);
                c.feed(&d[i..j]);
                c.feed(&d[j..]);
                assert_eq!(c.finish(), want, "splits at {i} and {j}");
            }
        }
    }

    #[test]
    fn insert_variants() {
        let d = b"use db1;\n\
            insert into t1 values (1),(2);\n\
            INSERT  IGNORE INTO `t2` VALUES (1);\n\
            REPLACE INTO `t3` VALUES (1),(2),(3);\n\
            INSERT INTO `t4` (`a`, `b(c)`) VALUES (1,2),(3,4);\n\
            INSERT INTO `db2`.`t5` VALUES (1);\n\
            INSERT INTO db2.t6 VALUE (1);\n\
            INSERT INTO `t7` VALUES (1),(2) ON DUPLICATE KEY UPDATE a=VALUES(a);\n\
            INSERT INTO `t8` SELECT * FROM `t1`;\n\
            INSERT INTO `t9` SET a = 1;\n\
            INSERT INTO `t10` VALUES (1,(2),((3)));\n\
            INSERT INTO `t11` VALUES\r\n(1),\r\n(2);\r\n";
        assert_eq!(
            count(d),
            map(&[
                ("db1.t1", 2),
                ("db1.t2", 1),
                ("db1.t3", 3),
                ("db1.t4", 2),
                ("db2.t5", 1),
                ("db2.t6", 1),
                ("db1.t7", 2),
                ("db1.t10", 1),
                ("db1.t11", 2),
            ])
        );
    }

    #[test]
    fn create_table_variants_and_what_is_not_a_table() {
        let d = b"USE `d`;\n\
            CREATE TABLE `a` (x int);\n\
            CREATE TABLE IF NOT EXISTS `b` (x int);\n\
            CREATE OR REPLACE TABLE `c` (x int);\n\
            CREATE TEMPORARY TABLE `tmp` (x int);\n\
            CREATE VIEW `v` AS SELECT 1;\n\
            CREATE ALGORITHM=UNDEFINED VIEW `v2` AS SELECT 1;\n\
            CREATE SEQUENCE `s` start with 1;\n\
            CREATE DATABASE `e`;\n\
            CREATE TABLE `d2`.`f` LIKE `a`;\n\
            CREATE TABLE `donor_\xc3\xa9` (x int);\n";
        assert_eq!(
            count(d),
            map(&[
                ("d.a", 0),
                ("d.b", 0),
                ("d.c", 0),
                ("d2.f", 0),
                ("d.donor_\u{e9}", 0),
            ])
        );
    }

    #[test]
    fn a_recreated_table_starts_again_from_zero() {
        let d = b"USE d;\nCREATE TABLE t (x int);\nINSERT INTO t VALUES (1),(2);\n\
            CREATE TABLE IF NOT EXISTS t (x int);\nINSERT INTO t VALUES (3);\n\
            DROP TABLE t;\nCREATE TABLE t (x int);\nINSERT INTO t VALUES (4);\n";
        assert_eq!(count(d), map(&[("d.t", 1)]));
    }

    #[test]
    fn comments_hide_statements() {
        let d = b"USE d;\n\
            -- INSERT INTO t VALUES (1);\n\
            # INSERT INTO t VALUES (1);\n\
            /* INSERT INTO t VALUES (1); */\n\
            /*!40000 INSERT INTO t VALUES (1) */;\n\
            /*M!100000 INSERT INTO t VALUES (1) */;\n\
            /**/INSERT /* a comment (with parens), */ INTO t VALUES /* (9) */ (1), -- (8)\n (2);\n\
            INSERT INTO u VALUES (1--1),(2-1);\n\
            --\nINSERT INTO w VALUES (1);\n";
        assert_eq!(count(d), map(&[("d.t", 2), ("d.u", 2), ("d.w", 1)]));
    }

    #[test]
    fn executable_comments_are_lexed_so_their_strings_may_hold_the_comment_end() {
        let d =
            b"USE d;\n/*!50001 VIEW `v` AS select 'a*/b' AS `x` */;\nINSERT INTO t VALUES (1);\n\
            /*!50001 VIEW `w` AS select 1 -- it's */\n */;\nINSERT INTO t VALUES (2);\n";
        assert_eq!(count(d), map(&[("d.t", 2)]));
    }

    #[test]
    fn routines_between_delimiters_never_count() {
        let d = b"USE d;\nCREATE TABLE t (x int);\n\
            DELIMITER $$\n\
            CREATE PROCEDURE p() BEGIN INSERT INTO t VALUES (1),(2); END$$\n\
            INSERT INTO t VALUES (5)$$\n\
            CREATE TABLE `x` (y int)$$\n\
            delimiter ;\n\
            INSERT INTO t VALUES (3);\n\
            DELIMITER //\n\
            CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW BEGIN INSERT INTO t VALUES (';'); END//\n\
            DELIMITER ;\n\
            INSERT INTO t VALUES (4);\n";
        assert_eq!(count(d), map(&[("d.t", 2)]));
    }

    #[test]
    fn without_use_tables_are_keyed_by_name() {
        assert_eq!(
            count(b"CREATE TABLE `t` (x int);\nINSERT INTO `t` VALUES (1);\n"),
            map(&[("t", 1)])
        );
    }

    #[test]
    fn an_unfinished_dump_counts_only_what_the_server_would_take() {
        // The last statement is complete but has no delimiter: the client still sends it.
        assert_eq!(
            count(b"USE d;\nINSERT INTO t VALUES (1),(2)"),
            map(&[("d.t", 2)])
        );
        // Cut inside a string or a tuple: that statement is lost.
        assert_eq!(
            count(b"USE d;\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (1),('ab"),
            map(&[("d.t", 1)])
        );
        assert_eq!(
            count(b"USE d;\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (1),(2"),
            map(&[("d.t", 1)])
        );
        // A malformed statement is rejected whole by the server.
        assert_eq!(
            count(b"USE d;\nINSERT INTO t VALUES (1),;\nINSERT INTO t VALUES (1),(2;\n"),
            map(&[("d.t", 0)])
        );
    }

    #[test]
    fn counts_the_generated_test_database_without_its_trigger_body() {
        let mut sql = Vec::new();
        crate::testdb::write_sql(
            &crate::testdb::TestDbSpec {
                scale_mb: 0,
                seed: 1,
            },
            &mut sql,
        )
        .expect("generate");
        let got = count(&sql);
        // 300 donors at scale 0; the empty table is listed; the view is not a table.
        assert_eq!(got.get("pmi.pendonor"), Some(&300));
        assert_eq!(got.get("pmi.tmp_import"), Some(&0));
        assert!(!got.contains_key("pmi.v_donor_aktif"), "{got:?}");
        let tables: Vec<&str> = got.keys().map(String::as_str).collect();
        assert_eq!(
            tables,
            [
                "pmi.hasilelisa",
                "pmi.htransaksi",
                "pmi.pendonor",
                "pmi.stokkantong",
                "pmi.tmp_import",
                "pmi.user_log",
                "sms.inbox",
                "sms.outbox",
                "wagw.kontak",
                "wagw.pesan",
            ]
        );
        assert_eq!(count_in_chunks(&sql, &[1, 7, 4096, 3]), got);
    }

    /// Escapes like `mysql_real_escape_string`.
    fn escape(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(s.len() + 2);
        out.push(b'\'');
        for &b in s {
            match b {
                0 => out.extend_from_slice(b"\\0"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\'' => out.extend_from_slice(b"\\'"),
                b'"' => out.extend_from_slice(b"\\\""),
                0x1a => out.extend_from_slice(b"\\Z"),
                b => out.push(b),
            }
        }
        out.push(b'\'');
        out
    }

    fn ident(s: &str) -> String {
        format!("`{}`", s.replace('`', "``"))
    }

    /// Bytes that matter to the lexer, and some that do not.
    const NASTY: &[u8] = b"'\"`\\()),(;;-- #/**/!\n\r\tabcX0x";

    fn nasty_text() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![prop::sample::select(NASTY.to_vec()), any::<u8>(),],
            0..24,
        )
    }

    /// A value as mariadb-dump writes it.
    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            nasty_text().prop_map(|t| escape(&t)),
            prop::collection::vec(any::<u8>(), 0..12).prop_map(|b| {
                let mut v = b"0x".to_vec();
                for x in b {
                    v.extend_from_slice(format!("{x:02X}").as_bytes());
                }
                v
            }),
            Just(b"NULL".to_vec()),
            any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        ]
    }

    fn table_name() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(b"ab`;( )-#'\"/*\\".to_vec()), 1..8)
            .prop_map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    /// A dump of one database: tables with rows in extended INSERTs (each statement holds
    /// 1..=4 rows), comments between statements, a routine with an INSERT in its body.
    fn dump() -> impl Strategy<Value = (Vec<u8>, BTreeMap<String, u64>)> {
        let table = (
            table_name(),
            prop::collection::vec(prop::collection::vec(value(), 1..4), 0..9),
            1usize..5,
            nasty_text(),
        );
        prop::collection::vec(table, 1..5).prop_map(|tables| {
            let mut out = b"/*!40101 SET NAMES utf8mb4 */;\nUSE `db`;\n".to_vec();
            let mut want = BTreeMap::new();
            for (i, (name, rows, per_stmt, junk)) in tables.iter().enumerate() {
                let name = format!("{name}{i}");
                let q = ident(&name);
                out.extend_from_slice(format!("DROP TABLE IF EXISTS {q};\n").as_bytes());
                out.extend_from_slice(format!("CREATE TABLE {q} (\n  `a` text\n);\n").as_bytes());
                // A comment whose text is arbitrary (a block comment cannot hold `*/`).
                let junk: Vec<u8> = junk.iter().map(|&b| if b == b'*' { b'+' } else { b }).collect();
                out.extend_from_slice(b"/* ");
                out.extend_from_slice(&junk);
                out.extend_from_slice(b" */\n");
                for chunk in rows.chunks(*per_stmt) {
                    out.extend_from_slice(format!("INSERT INTO {q} VALUES ").as_bytes());
                    for (r, row) in chunk.iter().enumerate() {
                        if r > 0 {
                            out.extend_from_slice(b",\n");
                        }
                        out.push(b'(');
                        out.extend_from_slice(&row.join(&b","[..]));
                        out.push(b')');
                    }
                    out.extend_from_slice(b";\n");
                }
                out.extend_from_slice(
                    format!(
                        "DELIMITER ;;\n/*!50003 CREATE*/ /*!50003 TRIGGER `tr{i}` AFTER INSERT ON {q} FOR EACH ROW INSERT INTO {q} VALUES ('x'),('y') */;;\nDELIMITER ;\n"
                    )
                    .as_bytes(),
                );
                want.insert(format!("db.{name}"), rows.len() as u64);
            }
            out.extend_from_slice(b"-- Dump completed on 2026-11-26 13:01:44\n");
            (out, want)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn generated_dumps_are_counted_exactly_in_any_chunking(
            (d, want) in dump(),
            sizes in prop::collection::vec(1usize..300, 1..8),
        ) {
            prop_assert_eq!(count(&d), want.clone());
            prop_assert_eq!(count_in_chunks(&d, &sizes), want);
        }

        #[test]
        fn word_at_a_time_scans_agree_with_byte_at_a_time(
            bytes in prop::collection::vec(
                prop_oneof![prop::sample::select(b"0123456789ABCDEF;`'\\\"(),/-#$ ".to_vec()), any::<u8>()],
                0..200,
            ),
            delim in prop::sample::select(vec![&b";"[..], b";;", b"$$", b"//", b"|", b"@@"]),
        ) {
            for q in [b'\'', b'"'] {
                let naive = bytes.iter().position(|&c| c == q || c == b'\\');
                prop_assert_eq!(find_quote_end(&bytes, q), naive);
            }
            let mut c = RowCounter::new();
            c.set_delimiter(delim);
            let naive = bytes.iter().position(|&b| c.special[b as usize]).unwrap_or(bytes.len());
            prop_assert_eq!(c.skip_plain(&bytes), naive);
        }

        #[test]
        fn any_bytes_in_any_chunking_give_the_same_and_never_panic(
            bytes in prop::collection::vec(
                prop_oneof![prop::sample::select(b"'\"`\\();,-#/*!M \nINSERTOVALUSCREATBDLMIx.".to_vec()), any::<u8>()],
                0..600,
            ),
            sizes in prop::collection::vec(1usize..40, 1..6),
        ) {
            let whole = count(&bytes);
            prop_assert_eq!(count_in_chunks(&bytes, &sizes), whole.clone());
            prop_assert_eq!(count_in_chunks(&bytes, &[1]), whole);
        }
    }
}
