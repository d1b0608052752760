/*!
`Frame`: one 128×64 picture of the OLED, 1 bit per pixel. Screens render into it (it is an
`embedded-graphics` draw target), the panel compares it with the frame on the display so that only
changed frames are sent, the simulated display and the golden tests turn it into PNG files and
back.
*/

use std::convert::Infallible;
use std::fmt;

use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::{DrawTarget, OriginDimensions, Pixel, Size};

/// Width of the OLED in pixels.
pub const WIDTH: u32 = 128;
/// Height of the OLED in pixels.
pub const HEIGHT: u32 = 64;
const BYTES_PER_ROW: usize = (WIDTH / 8) as usize;

/// A 128×64 monochrome picture; row-major, 8 pixels a byte, the leftmost in the high bit.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    bits: [u8; BYTES_PER_ROW * HEIGHT as usize],
}

impl Default for Frame {
    fn default() -> Self {
        Frame::new()
    }
}

impl Frame {
    /// An all-dark frame.
    pub fn new() -> Frame {
        Frame {
            bits: [0; BYTES_PER_ROW * HEIGHT as usize],
        }
    }

    /// Whether the pixel at (`x`, `y`) is lit; `false` outside the frame.
    pub fn get(&self, x: i32, y: i32) -> bool {
        match Self::index(x, y) {
            Some((i, mask)) => self.bits[i] & mask != 0,
            None => false,
        }
    }

    /// Lights or darkens the pixel at (`x`, `y`); nothing happens outside the frame.
    pub fn set(&mut self, x: i32, y: i32, on: bool) {
        if let Some((i, mask)) = Self::index(x, y) {
            if on {
                self.bits[i] |= mask;
            } else {
                self.bits[i] &= !mask;
            }
        }
    }

    fn index(x: i32, y: i32) -> Option<(usize, u8)> {
        if x < 0 || y < 0 || x >= WIDTH as i32 || y >= HEIGHT as i32 {
            return None;
        }
        let (x, y) = (x as usize, y as usize);
        Some((y * BYTES_PER_ROW + x / 8, 0x80 >> (x % 8)))
    }

    /// How many pixels are lit.
    pub fn lit_count(&self) -> u32 {
        self.bits.iter().map(|b| b.count_ones()).sum()
    }

    /// The same picture moved by (`dx`, `dy`) pixels; what moves off the edge is lost.
    pub fn shifted(&self, dx: i32, dy: i32) -> Frame {
        let mut out = Frame::new();
        for y in 0..HEIGHT as i32 {
            for x in 0..WIDTH as i32 {
                if self.get(x, y) {
                    out.set(x + dx, y + dy, true);
                }
            }
        }
        out
    }

    /// Pixels that differ from `other`: how many, and the smallest rectangle holding them as
    /// `(x0, y0, x1, y1)` inclusive.
    pub fn diff(&self, other: &Frame) -> (u32, Option<(i32, i32, i32, i32)>) {
        let mut count = 0;
        let mut bbox: Option<(i32, i32, i32, i32)> = None;
        for y in 0..HEIGHT as i32 {
            for x in 0..WIDTH as i32 {
                if self.get(x, y) != other.get(x, y) {
                    count += 1;
                    bbox = Some(match bbox {
                        None => (x, y, x, y),
                        Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
                    });
                }
            }
        }
        (count, bbox)
    }

    /// The picture as text, `#` for a lit pixel (for test failure messages).
    pub fn to_ascii(&self) -> String {
        let mut s = String::with_capacity(((WIDTH + 1) * HEIGHT) as usize);
        for y in 0..HEIGHT as i32 {
            for x in 0..WIDTH as i32 {
                s.push(if self.get(x, y) { '#' } else { '.' });
            }
            s.push('\n');
        }
        s
    }

    /// A 1-bit greyscale PNG of the picture, each pixel drawn as a `scale`×`scale` square (lit
    /// pixels white on black, as the OLED shows them). `scale` 0 is taken as 1.
    pub fn to_png(&self, scale: u32) -> Vec<u8> {
        let scale = scale.max(1);
        let (w, h) = (WIDTH * scale, HEIGHT * scale);
        let row_bytes = w.div_ceil(8) as usize;
        let mut data = vec![0u8; row_bytes * h as usize];
        for y in 0..h {
            for x in 0..w {
                if self.get((x / scale) as i32, (y / scale) as i32) {
                    data[y as usize * row_bytes + (x / 8) as usize] |= 0x80 >> (x % 8);
                }
            }
        }
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, w, h);
            encoder.set_color(png::ColorType::Grayscale);
            encoder.set_depth(png::BitDepth::One);
            encoder.set_compression(png::Compression::Best);
            // Encoding into memory only fails on a wrong data length, which is computed above.
            let mut writer = encoder
                .write_header()
                .expect("a PNG header for a fixed-size image");
            writer
                .write_image_data(&data)
                .expect("PNG data of the size given in the header");
            writer.finish().expect("finishing a PNG in memory");
        }
        out
    }

    /// Reads a PNG written by [`Frame::to_png`] (at any scale) back into a frame, with the scale.
    /// Any greyscale PNG of 128·s × 64·s pixels whose s×s blocks are uniform is accepted.
    pub fn from_png(bytes: &[u8]) -> Result<(Frame, u32), String> {
        let mut decoder = png::Decoder::new(bytes);
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().map_err(|e| format!("not a PNG: {e}"))?;
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader
            .next_frame(&mut buf)
            .map_err(|e| format!("unreadable PNG: {e}"))?;
        let (w, h) = (info.width, info.height);
        if w % WIDTH != 0 || h * 2 != w || w == 0 {
            return Err(format!(
                "the PNG is {w}×{h}, not a multiple of {WIDTH}×{HEIGHT}"
            ));
        }
        let scale = w / WIDTH;
        let channels = match info.color_type {
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Indexed => return Err("an indexed PNG was not expected".into()),
        };
        if info.bit_depth != png::BitDepth::Eight {
            return Err(format!("unexpected PNG bit depth {:?}", info.bit_depth));
        }
        let lit = |x: u32, y: u32| buf[y as usize * info.line_size + x as usize * channels] > 127;
        let mut frame = Frame::new();
        for y in 0..h {
            for x in 0..w {
                let on = lit(x, y);
                let (fx, fy) = ((x / scale) as i32, (y / scale) as i32);
                if x % scale == 0 && y % scale == 0 {
                    frame.set(fx, fy, on);
                } else if frame.get(fx, fy) != on {
                    return Err(format!(
                        "pixel block ({fx}, {fy}) of the {scale}× PNG is not uniform"
                    ));
                }
            }
        }
        Ok((frame, scale))
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Frame({} lit)", self.lit_count())
    }
}

impl OriginDimensions for Frame {
    fn size(&self) -> Size {
        Size::new(WIDTH, HEIGHT)
    }
}

impl DrawTarget for Frame {
    type Color = BinaryColor;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        for Pixel(p, color) in pixels {
            self.set(p.x, p.y, color.is_on());
        }
        Ok(())
    }

    fn clear(&mut self, color: Self::Color) -> Result<(), Self::Error> {
        self.bits.fill(if color.is_on() { 0xff } else { 0 });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_and_bounds() {
        let mut f = Frame::new();
        f.set(0, 0, true);
        f.set(127, 63, true);
        f.set(128, 0, true);
        f.set(-1, 5, true);
        assert!(f.get(0, 0) && f.get(127, 63));
        assert!(!f.get(128, 0) && !f.get(-1, 5));
        assert_eq!(f.lit_count(), 2);
        f.set(0, 0, false);
        assert_eq!(f.lit_count(), 1);
    }

    #[test]
    fn png_round_trip_at_every_scale() {
        let mut f = Frame::new();
        for i in 0..64 {
            f.set(i * 2, i, true);
            f.set(3, i, i % 3 == 0);
        }
        for scale in [1, 2, 4] {
            let (back, s) = Frame::from_png(&f.to_png(scale)).expect("own PNG");
            assert_eq!(s, scale);
            assert_eq!(back, f, "scale {scale}");
        }
    }

    #[test]
    fn from_png_refuses_other_sizes() {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, 100, 50);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().expect("header");
        w.write_image_data(&[0u8; 5000]).expect("data");
        w.finish().expect("finish");
        assert!(Frame::from_png(&out).is_err());
        assert!(Frame::from_png(b"not a png").is_err());
    }

    #[test]
    fn shift_moves_and_clips() {
        let mut f = Frame::new();
        f.set(0, 0, true);
        f.set(127, 10, true);
        let s = f.shifted(1, 2);
        assert!(s.get(1, 2));
        assert_eq!(s.lit_count(), 1, "the pixel at the right edge moves off");
        let (n, bbox) = f.diff(&s);
        assert_eq!(n, 3);
        assert_eq!(bbox, Some((0, 0, 127, 10)));
    }
}
