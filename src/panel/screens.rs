/*!
The OLED screens: pure functions from a [`Status`] (and the page the caller wants) to pixels on
any `embedded-graphics` draw target of 128×64 binary pixels — the real SSD1306 buffer, a
[`Frame`] for the simulated display and the golden tests.

Layout: a 10-pixel title bar in the 6×10 font (white, dark text), then lines of the 5×8 font
every 9 pixels (25 characters a line) or of the 6×10 font (21 characters). Text that does not fit
is shortened with "…" (disk labels in the middle, so `SIMBAK-FLASH1` keeps its number). The
layout of every screen is in `docs/panel.md`.
*/

use embedded_graphics::mono_font::iso_8859_1::{FONT_10X20, FONT_5X8, FONT_6X10};
use embedded_graphics::mono_font::{MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Baseline, Text};

use super::frame::{Frame, HEIGHT, WIDTH};
use super::status::{
    format_bytes, format_datetime, format_short, DiskLine, ErrorInfo, Page, Progress, Screen,
    Status,
};
use super::texts::{texts, Texts};
use crate::kinds::DiskUnusable;

/// The small font: 5×8, 25 characters a line.
const SMALL: &MonoFont = &FONT_5X8;
/// The body font: 6×10, 21 characters a line.
const BODY: &MonoFont = &FONT_6X10;
/// The large font for the few words that must be read from across the room.
const LARGE: &MonoFont = &FONT_10X20;
/// Characters of the small font on one line (1 pixel margin left).
const SMALL_COLS: usize = 25;
/// Characters of the body font on one line.
const BODY_COLS: usize = 21;
/// Height of the title bar in the body font.
const BAR: i32 = 10;
/// The idle and network pages: a title bar and seven lines, all in the small font, 8 pixels
/// apart (the font's glyphs leave their top row empty).
const LIST_PITCH: i32 = 8;
const LIST_LINES: usize = 7;
/// Line pitch of small-font text on the other screens.
const TEXT_PITCH: i32 = 9;

const ON: BinaryColor = BinaryColor::On;
const OFF: BinaryColor = BinaryColor::Off;

/// Renders the screen `status.screen` asks for (for the idle and error screens, the given page)
/// onto `target`, which is cleared first.
pub fn render<D>(status: &Status, page: Page, target: &mut D) -> Result<(), D::Error>
where
    D: DrawTarget<Color = BinaryColor>,
{
    target.clear(OFF)?;
    let t = texts(status.language);
    match &status.screen {
        Screen::Boot => boot(t, target),
        Screen::Idle => match page {
            Page::Main => idle(status, t, target),
            Page::Second => network(status, t, target),
        },
        Screen::Running(p) => running(status, p, t, target),
        Screen::Error(e) => error(e, page, t, target),
        Screen::Ejecting { labels } => ejecting(labels, t, target),
        Screen::SafeToRemove { labels } => safe_to_remove(labels, t, target),
        Screen::UnknownDisk { label, why } => unknown_disk(label, *why, t, target),
    }
}

/// [`render`] into a new [`Frame`].
pub fn render_frame(status: &Status, page: Page) -> Frame {
    let mut frame = Frame::new();
    match render(status, page, &mut frame) {
        Ok(()) => frame,
        Err(never) => match never {},
    }
}

// ---------------------------------------------------------------------------------------------
// Screens

fn boot<D: DrawTarget<Color = BinaryColor>>(t: &Texts, d: &mut D) -> Result<(), D::Error> {
    Rectangle::new(Point::new(0, 0), Size::new(WIDTH, HEIGHT))
        .into_styled(PrimitiveStyle::with_stroke(ON, 1))
        .draw(d)?;
    centered(d, LARGE, 8, "SIMDONDAR", ON)?;
    centered(d, BODY, 31, t.boot_subtitle, ON)?;
    centered(d, SMALL, 49, t.boot_starting, ON)?;
    Ok(())
}

/// Draws a title bar and list rows in the small font (the idle and network pages).
fn list_page<D: DrawTarget<Color = BinaryColor>>(
    d: &mut D,
    title: &str,
    rows: &[Row],
) -> Result<(), D::Error> {
    Rectangle::new(Point::new(0, 0), Size::new(WIDTH, LIST_PITCH as u32))
        .into_styled(PrimitiveStyle::with_fill(ON))
        .draw(d)?;
    draw_text(d, SMALL, 1, 0, &fit_end(title, SMALL_COLS), OFF)?;
    for (i, row) in rows.iter().take(LIST_LINES).enumerate() {
        row.draw(d, LIST_PITCH * (i as i32 + 1))?;
    }
    Ok(())
}

fn idle<D: DrawTarget<Color = BinaryColor>>(
    s: &Status,
    t: &Texts,
    d: &mut D,
) -> Result<(), D::Error> {
    // Title bar: the current date and time, so the short times below need no date, and a wrong
    // clock (no RTC before NTP) is seen at once.
    let mut clock = format_datetime(s.now, &s.tz_abbrev);
    if !s.clock_synced {
        clock.push_str(t.clock_unsynced_mark);
    }

    let mut rows: Vec<Row> = Vec::with_capacity(LIST_LINES);
    // The last backup and its result, the next one.
    rows.push(match &s.last_backup {
        Some(b) => Row::lr(
            format!("{} {}", t.last_backup, format_short(b.at, s.now)),
            if b.ok { t.ok } else { t.failed },
            !b.ok,
        ),
        None => Row::lr(t.last_backup.to_string(), t.never, false),
    });
    rows.push(match s.next_backup {
        Some(at) => Row::lr(t.next_backup.to_string(), &format_short(at, s.now), false),
        None => Row::lr(t.next_backup.to_string(), t.not_scheduled, false),
    });
    // The manual copy's age (the longer label when it fits), the restore test, the alert line.
    let age = match s.days_since_manual {
        Some(days) => t.days_ago(days),
        None => t.never.to_string(),
    };
    let label = if t.manual_long.chars().count() + 1 + age.chars().count() <= SMALL_COLS {
        t.manual_long
    } else {
        t.manual
    };
    let manual = Row::lr(label.to_string(), &age, s.manual_overdue);
    let restore = s.restore_test.as_ref().map(|r| {
        Row::lr(
            format!("{} {}", t.restore_test, r.at.format("%d-%m")),
            if r.passed { t.ok } else { t.failed },
            !r.passed,
        )
    });
    let alert = alert_line(s, t).map(Row::inverted);

    // The disks get what is left; the restore test only shows when every disk fits too.
    let fixed = rows.len() + 1 + usize::from(alert.is_some());
    let wanted = s.disks.len().max(1);
    let disk_rows = (LIST_LINES - fixed).min(wanted);
    let show_restore = restore.is_some() && fixed + 1 + wanted <= LIST_LINES;
    rows.extend(disk_lines(&s.disks, disk_rows, s, t));
    rows.push(manual);
    if show_restore {
        rows.extend(restore);
    }
    rows.extend(alert);
    list_page(d, &clock, &rows)
}

/// The disk lines in three columns: label (shortened in the middle), role, free space (or
/// FULL, inverted); the columns are as wide as the lines shown need. "+N disk lagi" when they
/// do not all fit.
fn disk_lines(disks: &[DiskLine], rows: usize, s: &Status, t: &Texts) -> Vec<Row> {
    if disks.is_empty() {
        return vec![Row::plain(t.no_disks.to_string())];
    }
    let shown = if disks.len() > rows {
        rows.saturating_sub(1)
    } else {
        disks.len()
    };
    let free = |disk: &DiskLine| -> String {
        if disk.is_full() {
            t.disk_full.to_string()
        } else {
            match disk.free_bytes {
                // "1,2TB": the unit without a space, to leave the label room.
                Some(b) => format_bytes(b, s.language).replace(' ', ""),
                None => "-".to_string(),
            }
        }
    };
    let cols = |disk: &DiskLine| {
        (
            t.disk_role(disk).chars().count(),
            free(disk).chars().count(),
        )
    };
    let role_w = disks[..shown].iter().map(|d| cols(d).0).max().unwrap_or(0);
    let free_w = disks[..shown].iter().map(|d| cols(d).1).max().unwrap_or(0);
    let label_w = SMALL_COLS.saturating_sub(role_w + free_w + 2);
    let mut out: Vec<Row> = disks[..shown]
        .iter()
        .map(|disk| {
            let left = format!(
                "{:<label_w$} {}",
                fit_middle(&disk.label, label_w),
                t.disk_role(disk)
            );
            Row::lr(left, &free(disk), disk.is_full())
        })
        .collect();
    if shown < disks.len() {
        out.push(Row::plain(t.more_disks(disks.len() - shown)));
    }
    out
}

/// The one alert line of the idle screen, "!" and the reason: the notice (an answer to a button
/// press) comes first; otherwise failures and attention reasons take turns, ten seconds each,
/// with "1/3" to say there are more.
fn alert_line(s: &Status, t: &Texts) -> Option<String> {
    if let Some(n) = s.notice {
        return Some(format!("! {}", fit_end(t.notice(n), SMALL_COLS - 2)));
    }
    let n = s.failures.len() + s.attention.len();
    if n == 0 {
        return None;
    }
    let i = (s.now.and_utc().timestamp().rem_euclid(10 * n as i64) / 10) as usize;
    let suffix = if n > 1 {
        format!(" {}/{n}", i + 1)
    } else {
        String::new()
    };
    let room = SMALL_COLS - 2 - suffix.chars().count();
    let text = match s.failures.get(i) {
        Some(f) => t.failure(f),
        None => t.attention(&s.attention[i - s.failures.len()], room),
    };
    Some(format!("! {:<room$}{suffix}", fit_end(&text, room)))
}

fn network<D: DrawTarget<Color = BinaryColor>>(
    s: &Status,
    t: &Texts,
    d: &mut D,
) -> Result<(), D::Error> {
    let n = &s.network;
    let mut rows = vec![Row::plain(format!("{}: {}", t.host, n.hostname))];
    let room = LIST_LINES - 3;
    if n.addresses.is_empty() {
        rows.push(Row::plain(t.no_address.to_string()));
    } else {
        let shown = if n.addresses.len() > room {
            room - 1
        } else {
            n.addresses.len()
        };
        rows.extend(
            n.addresses[..shown]
                .iter()
                .map(|a| Row::plain(fit_middle(a, SMALL_COLS))),
        );
        if shown < n.addresses.len() {
            rows.push(Row::plain(format!(
                "+{} {}",
                n.addresses.len() - shown,
                t.more
            )));
        }
    }
    while rows.len() < LIST_LINES - 2 {
        rows.push(Row::plain(String::new()));
    }
    rows.push(if s.clock_synced {
        Row::lr(format!("{}:", t.clock), t.clock_synced, false)
    } else {
        Row::lr(format!("{}:", t.clock), t.clock_not_synced, true)
    });
    rows.push(match n.db_reachable {
        Some(true) => Row::lr(format!("{}:", t.database), t.db_ok, false),
        Some(false) => Row::lr(format!("{}:", t.database), t.db_unreachable, true),
        None => Row::lr(format!("{}:", t.database), t.db_unknown, false),
    });
    list_page(d, t.network_title, &rows)
}

fn running<D: DrawTarget<Color = BinaryColor>>(
    s: &Status,
    p: &Progress,
    t: &Texts,
    d: &mut D,
) -> Result<(), D::Error> {
    let title = if p.manual {
        t.running_manual
    } else {
        t.running_auto
    };
    let room = SMALL_COLS.saturating_sub(title.chars().count() + 1);
    title_bar(d, &format!("{title} {}", fit_middle(&p.source, room)))?;

    // The progress bar, with the percentage beside it when the size can be estimated; without
    // an estimate a block moves along as the data flows.
    let (bar_x, bar_y, bar_w, bar_h) = (0, 13, 100, 10);
    Rectangle::new(Point::new(bar_x, bar_y), Size::new(bar_w, bar_h))
        .into_styled(PrimitiveStyle::with_stroke(ON, 1))
        .draw(d)?;
    let inner = bar_w as i32 - 4;
    match p.fraction {
        Some(f) => {
            let f = if f.is_finite() {
                f.clamp(0.0, 1.0)
            } else {
                0.0
            };
            let fill = (inner as f32 * f).round() as u32;
            if fill > 0 {
                Rectangle::new(Point::new(bar_x + 2, bar_y + 2), Size::new(fill, bar_h - 4))
                    .into_styled(PrimitiveStyle::with_fill(ON))
                    .draw(d)?;
            }
            let pct = format!("{}%", (f * 100.0).floor() as u32);
            right_aligned(d, BODY, bar_y, &pct, ON)?;
        }
        None => {
            let block = 16;
            let pos = ((p.bytes >> 22) % (inner - block + 1) as u64) as i32;
            Rectangle::new(
                Point::new(bar_x + 2 + pos, bar_y + 2),
                Size::new(block as u32, bar_h - 4),
            )
            .into_styled(PrimitiveStyle::with_fill(ON))
            .draw(d)?;
        }
    }

    // Bytes so far and the rate.
    let done = format_bytes(p.bytes, s.language);
    let rate = format!("{}/s", format_bytes(p.rate_bytes_per_s, s.language));
    draw_text(d, BODY, 1, 26, &done, ON)?;
    right_aligned(d, BODY, 26, &rate, ON)?;

    // The targets on up to two lines, each shortened to half a line if they do not fit.
    let mut lines = wrap(
        &format!("{}: {}", t.to, p.targets.join(", ")),
        SMALL_COLS,
        2,
    );
    if lines.iter().any(|l| l.ends_with('…')) {
        let names: Vec<String> = p.targets.iter().map(|l| fit_middle(l, 12)).collect();
        lines = wrap(&format!("{}: {}", t.to, names.join(", ")), SMALL_COLS, 2);
    }
    for (i, line) in lines.iter().enumerate() {
        draw_text(d, SMALL, 1, 38 + TEXT_PITCH * i as i32, line, ON)?;
    }
    // The bottom line: the answer to a button press if there is one (a second backup is not
    // started), otherwise the warning not to pull the disks.
    let bottom = match s.notice {
        Some(n) => format!("! {}", t.notice(n)),
        None => t.do_not_unplug.to_string(),
    };
    Row::banner(bottom).draw(d, 56)?;
    Ok(())
}

/// The error screen: what failed in the body font, what to do in the small font under a dotted
/// rule. When both do not fit, the first page shows what failed and the second what to do,
/// both in the body font.
fn error<D: DrawTarget<Color = BinaryColor>>(
    e: &ErrorInfo,
    page: Page,
    t: &Texts,
    d: &mut D,
) -> Result<(), D::Error> {
    let what_body = wrap(&e.what, BODY_COLS, 2);
    let todo_small = wrap(&e.todo, SMALL_COLS, 3);
    let fits = !what_body
        .iter()
        .chain(&todo_small)
        .any(|l| l.ends_with('…'));
    if fits {
        title_bar(d, t.error_title)?;
        for (i, line) in what_body.iter().enumerate() {
            draw_text(d, BODY, 1, 12 + 10 * i as i32, line, ON)?;
        }
        dotted_rule(d, 34)?;
        for (i, line) in todo_small.iter().enumerate() {
            draw_text(d, SMALL, 1, 37 + TEXT_PITCH * i as i32, line, ON)?;
        }
        return Ok(());
    }
    let (title, text, marker) = match page {
        Page::Main => (t.error_title, &e.what, "1/2"),
        Page::Second => (t.error_todo_title, &e.todo, "2/2"),
    };
    title_bar(d, &fit_end(title, BODY_COLS - marker.len() - 1))?;
    right_aligned(d, BODY, 0, marker, OFF)?;
    // Five lines of the body font, or six of the small one when that is not enough.
    let body = wrap(text, BODY_COLS, 5);
    if body.last().is_some_and(|l| l.ends_with('…')) {
        for (i, line) in wrap(text, SMALL_COLS, 6).iter().enumerate() {
            draw_text(d, SMALL, 1, 12 + LIST_PITCH * i as i32, line, ON)?;
        }
    } else {
        for (i, line) in body.iter().enumerate() {
            draw_text(d, BODY, 1, 12 + 10 * i as i32, line, ON)?;
        }
    }
    Ok(())
}

fn ejecting<D: DrawTarget<Color = BinaryColor>>(
    labels: &[String],
    t: &Texts,
    d: &mut D,
) -> Result<(), D::Error> {
    title_bar(d, t.ejecting_title)?;
    label_list(d, labels, 14, 3, t)?;
    Row::banner(t.ejecting_wait.to_string()).draw(d, 56)?;
    Ok(())
}

fn safe_to_remove<D: DrawTarget<Color = BinaryColor>>(
    labels: &[String],
    t: &Texts,
    d: &mut D,
) -> Result<(), D::Error> {
    centered(d, LARGE, 0, t.safe_title[0], ON)?;
    centered(d, LARGE, 19, t.safe_title[1], ON)?;
    if labels.is_empty() {
        for (i, line) in wrap(t.nothing_to_eject, SMALL_COLS, 2).iter().enumerate() {
            centered(d, SMALL, 45 + TEXT_PITCH * i as i32, line, ON)?;
        }
        return Ok(());
    }
    let names: Vec<String> = labels.iter().map(|l| fit_middle(l, 12)).collect();
    centered(d, BODY, 41, &fit_end(&names.join(", "), BODY_COLS), ON)?;
    centered(d, SMALL, 55, t.safe_body, ON)?;
    Ok(())
}

fn unknown_disk<D: DrawTarget<Color = BinaryColor>>(
    label: &str,
    why: Option<DiskUnusable>,
    t: &Texts,
    d: &mut D,
) -> Result<(), D::Error> {
    let (title, body) = match why {
        None => (t.unknown_title, t.unknown_body),
        Some(why) => (t.unusable_title, t.unusable_body(why)),
    };
    title_bar(d, title)?;
    centered(d, BODY, 13, &fit_middle(label, BODY_COLS), ON)?;
    for (i, line) in wrap(body, SMALL_COLS, 4).iter().enumerate() {
        draw_text(d, SMALL, 1, 27 + TEXT_PITCH * i as i32, line, ON)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Pieces

/// One small-font line: text on the left, optionally a value on the right, either part or the
/// whole line inverted (white with dark text) to catch the eye.
struct Row {
    left: String,
    right: String,
    right_inverted: bool,
    inverted: bool,
    centered: bool,
}

impl Row {
    fn plain(left: String) -> Row {
        Row {
            left,
            right: String::new(),
            right_inverted: false,
            inverted: false,
            centered: false,
        }
    }

    fn inverted(left: String) -> Row {
        Row {
            inverted: true,
            ..Row::plain(left)
        }
    }

    /// Inverted and centred (a warning at the bottom of a screen).
    fn banner(text: String) -> Row {
        Row {
            centered: true,
            ..Row::inverted(text)
        }
    }

    fn lr(left: String, right: &str, right_inverted: bool) -> Row {
        Row {
            right: right.to_string(),
            right_inverted,
            ..Row::plain(left)
        }
    }

    /// Draws the row with its top at `y`; an inverted part fills the 8 rows of the font.
    fn draw<D: DrawTarget<Color = BinaryColor>>(&self, d: &mut D, y: i32) -> Result<(), D::Error> {
        let height = SMALL.character_size.height;
        let color = if self.inverted {
            Rectangle::new(Point::new(0, y), Size::new(WIDTH, height))
                .into_styled(PrimitiveStyle::with_fill(ON))
                .draw(d)?;
            OFF
        } else {
            ON
        };
        let right_len = self.right.chars().count();
        let room = if right_len == 0 {
            SMALL_COLS
        } else {
            SMALL_COLS.saturating_sub(right_len + 1)
        };
        if self.centered {
            centered(d, SMALL, y, &self.left, color)?;
        } else {
            draw_text(d, SMALL, 1, y, &fit_end(&self.left, room), color)?;
        }
        if right_len > 0 {
            let right = fit_end(&self.right, SMALL_COLS);
            let x = right_x(SMALL, right.chars().count());
            if self.right_inverted && !self.inverted {
                Rectangle::new(
                    Point::new(x - 2, y),
                    Size::new((WIDTH as i32 - x + 2) as u32, height),
                )
                .into_styled(PrimitiveStyle::with_fill(ON))
                .draw(d)?;
                draw_text(d, SMALL, x, y, &right, OFF)?;
            } else {
                draw_text(d, SMALL, x, y, &right, color)?;
            }
        }
        Ok(())
    }
}

/// The white title bar with dark text in the body font, or the small font when the text is
/// longer than 21 characters.
fn title_bar<D: DrawTarget<Color = BinaryColor>>(d: &mut D, text: &str) -> Result<(), D::Error> {
    Rectangle::new(Point::new(0, 0), Size::new(WIDTH, BAR as u32))
        .into_styled(PrimitiveStyle::with_fill(ON))
        .draw(d)?;
    if text.chars().count() <= BODY_COLS {
        draw_text(d, BODY, 1, 0, text, OFF)?;
    } else {
        draw_text(d, SMALL, 1, 1, &fit_end(text, SMALL_COLS), OFF)?;
    }
    Ok(())
}

/// Labels one per body-font line, "+N lagi" when there are more than `rows`.
fn label_list<D: DrawTarget<Color = BinaryColor>>(
    d: &mut D,
    labels: &[String],
    y: i32,
    rows: usize,
    t: &Texts,
) -> Result<(), D::Error> {
    let shown = if labels.len() > rows {
        rows - 1
    } else {
        labels.len()
    };
    for (i, label) in labels[..shown].iter().enumerate() {
        draw_text(
            d,
            BODY,
            1,
            y + 11 * i as i32,
            &fit_middle(label, BODY_COLS),
            ON,
        )?;
    }
    if shown < labels.len() {
        let more = format!("+{} {}", labels.len() - shown, t.more);
        draw_text(d, BODY, 1, y + 11 * shown as i32, &more, ON)?;
    }
    Ok(())
}

fn dotted_rule<D: DrawTarget<Color = BinaryColor>>(d: &mut D, y: i32) -> Result<(), D::Error> {
    for x in (0..WIDTH as i32).step_by(2) {
        Pixel(Point::new(x, y), ON).draw(d)?;
    }
    Ok(())
}

fn advance(font: &MonoFont) -> i32 {
    (font.character_size.width + font.character_spacing) as i32
}

/// x where text of `chars` characters starts so that it ends at the right edge.
fn right_x(font: &MonoFont, chars: usize) -> i32 {
    WIDTH as i32 - advance(font) * chars as i32
}

fn right_aligned<D: DrawTarget<Color = BinaryColor>>(
    d: &mut D,
    font: &MonoFont,
    y: i32,
    text: &str,
    color: BinaryColor,
) -> Result<(), D::Error> {
    draw_text(d, font, right_x(font, text.chars().count()), y, text, color)?;
    Ok(())
}

fn centered<D: DrawTarget<Color = BinaryColor>>(
    d: &mut D,
    font: &MonoFont,
    y: i32,
    text: &str,
    color: BinaryColor,
) -> Result<(), D::Error> {
    let cols = (WIDTH as i32 / advance(font)) as usize;
    let text = fit_end(text, cols);
    let w = advance(font) * text.chars().count() as i32;
    draw_text(d, font, (WIDTH as i32 - w) / 2, y, &text, color)?;
    Ok(())
}

/// Draws `text` with its top-left corner at (`x`, `y`); "…" (which the fonts lack) is drawn as
/// three dots on the baseline. Returns the x after the text.
fn draw_text<D: DrawTarget<Color = BinaryColor>>(
    d: &mut D,
    font: &MonoFont,
    x: i32,
    y: i32,
    text: &str,
    color: BinaryColor,
) -> Result<i32, D::Error> {
    let style = MonoTextStyle::new(font, color);
    let adv = advance(font);
    let mut cx = x;
    for (i, part) in text.split('…').enumerate() {
        if i > 0 {
            let row = y + dot_row(font);
            for dx in [0, 2, 4] {
                Pixel(Point::new(cx + dx, row), color).draw(d)?;
            }
            cx += adv;
        }
        if !part.is_empty() {
            Text::with_baseline(part, Point::new(cx, y), style, Baseline::Top).draw(d)?;
            cx += adv * part.chars().count() as i32;
        }
    }
    Ok(cx)
}

/// The row (from the top of a character cell) where the font's full stop is widest.
fn dot_row(font: &MonoFont) -> i32 {
    let mut f = Frame::new();
    let style = MonoTextStyle::new(font, ON);
    let _ = Text::with_baseline(".", Point::zero(), style, Baseline::Top).draw(&mut f);
    let lit = |y: i32| (0..advance(font)).filter(|&x| f.get(x, y)).count();
    (0..font.character_size.height as i32)
        .rev()
        .max_by_key(|&y| lit(y))
        .filter(|&y| lit(y) > 0)
        .unwrap_or(font.baseline as i32)
}

/// `text` shortened to `cols` characters with "…" at the end.
pub fn fit_end(text: &str, cols: usize) -> String {
    if text.chars().count() <= cols {
        return text.to_string();
    }
    if cols == 0 {
        return String::new();
    }
    let mut s: String = text.chars().take(cols - 1).collect();
    s = s.trim_end().to_string();
    s.push('…');
    s
}

/// `text` shortened to `cols` characters with "…" in the middle (labels that share a prefix
/// keep their distinguishing end).
pub fn fit_middle(text: &str, cols: usize) -> String {
    let n = text.chars().count();
    if n <= cols {
        return text.to_string();
    }
    if cols < 3 {
        return fit_end(text, cols);
    }
    let head = (cols - 1) / 2;
    let tail = cols - 1 - head;
    let chars: Vec<char> = text.chars().collect();
    let mut s: String = chars[..head].iter().collect();
    s.push('…');
    s.extend(&chars[n - tail..]);
    s
}

/// Word-wraps `text` into at most `max_lines` lines of `cols` characters; a word longer than a
/// line is broken, and what does not fit ends the last line with "…".
pub fn wrap(text: &str, cols: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let cur_len = current.chars().count();
            let sep = usize::from(cur_len > 0);
            if cur_len + sep + word.len() <= cols {
                if sep == 1 {
                    current.push(' ');
                }
                current.extend(word.iter());
                break;
            }
            if cur_len == 0 {
                // A word longer than a line: break it.
                current = word[..cols].iter().collect();
                word = word[cols..].to_vec();
            }
            lines.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        let rest = lines[max_lines - 1..].join(" ");
        lines.truncate(max_lines - 1);
        lines.push(fit_end(&format!("{rest} "), cols));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening() {
        assert_eq!(fit_end("Backup", 10), "Backup");
        assert_eq!(fit_end("Backup manual terlambat", 10), "Backup ma…");
        assert_eq!(fit_end("Backup manual", 8), "Backup…");
        assert_eq!(fit_middle("SIMBAK-FLASH1", 10), "SIMB…LASH1");
        assert_eq!(fit_middle("HDD1", 10), "HDD1");
        assert_eq!(fit_middle("ÄÖÜÄÖÜÄÖÜÄÖÜ", 5), "ÄÖ…ÖÜ");
    }

    #[test]
    fn wrapping() {
        assert_eq!(
            wrap("Periksa server SIMDONDAR dan kabel jaringan.", 25, 3),
            vec!["Periksa server SIMDONDAR", "dan kabel jaringan."]
        );
        assert_eq!(wrap("abcdefghij", 4, 5), vec!["abcd", "efgh", "ij"]);
        let w = wrap("one two three four five six", 9, 2);
        assert_eq!(w.len(), 2);
        assert!(w[1].ends_with('…'), "{w:?}");
        assert!(w.iter().all(|l| l.chars().count() <= 9), "{w:?}");
        assert!(wrap("", 10, 2).is_empty());
    }

    #[test]
    fn ellipsis_is_drawn_as_dots() {
        let mut with = Frame::new();
        draw_text(&mut with, SMALL, 0, 0, "…", ON).expect("frame");
        assert_eq!(with.lit_count(), 3);
        let row = dot_row(SMALL);
        assert!(with.get(0, row) && with.get(2, row) && with.get(4, row));
    }
}
