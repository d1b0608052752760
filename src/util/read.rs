/*!
Reading a stream to its end in pieces, each handed to the caller (to hash it, count it): the one
read loop of the stored-bytes checks (the writer's read-back and `restore`'s check).
*/

use std::io::{self, Read};

/// Reads `r` to its end in `buf`-sized pieces and hands each piece to `each`; returns how many
/// bytes were read. An error of the reader ends it (none is retried).
pub fn read_each(
    r: &mut impl Read,
    buf: &mut [u8],
    mut each: impl FnMut(&[u8]),
) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = r.read(buf)?;
        if n == 0 {
            return Ok(total);
        }
        each(&buf[..n]);
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_piece_is_handed_over_in_order() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let mut seen = Vec::new();
        let mut buf = [0u8; 333];
        let n = read_each(&mut &data[..], &mut buf, |b| seen.extend_from_slice(b)).expect("read");
        assert_eq!(n, 10_000);
        assert_eq!(seen, data);
    }
}
