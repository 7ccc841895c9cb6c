//! Streaming encoder for the Unix `compress` (`.Z`) format.
//!
//! No maintained crate writes this exact format (`weezl` is GIF/TIFF-style
//! LZW: at most 12-bit codes, an END code, no `.Z` header and none of the
//! code-group padding that `compress`/`gzip -d` expect), so it is
//! implemented here:
//!
//! * header `1f 9d 90`: magic, then flags = block mode (0x80) | max bits 16;
//! * codes are packed LSB-first, starting at 9 bits and widening up to 16;
//! * codes are written in groups of eight (`n_bits` bytes); when the width
//!   changes, the current group is zero-padded to its end, as decoders skip
//!   to the next group boundary;
//! * when all 65536 codes are in use, `CLEAR` (256) is emitted, the table is
//!   reset and the width returns to 9 bits.
//!
//! Output is emitted as soon as whole bytes are complete. The format has no
//! way to flush a partial code group, and decoders only decode whole groups
//! until end of input, so a stream is fully decodable only once it ends.
//! Memory is fixed: one 768 KiB hash table.

use bytes::Bytes;

use sluice_policy::{BodyError, BodyTransform};

use super::encoder::after_end;

const NAME: &str = "compress";
const MAGIC: [u8; 3] = [0x1f, 0x9d, 0x80 | MAX_BITS as u8];
const MAX_BITS: u32 = 16;
const INIT_BITS: u32 = 9;
/// The `CLEAR` code, reserved in block mode.
const CLEAR: u32 = 256;
/// First code available for new strings in block mode.
const FIRST: u32 = 257;
/// One more than the largest code.
const MAX_MAX_CODE: u32 = 1 << MAX_BITS;
/// Hash table slots: a power of two, keeping the load factor at most 1/2.
const TABLE_BITS: u32 = 17;
const TABLE_SIZE: usize = 1 << TABLE_BITS;

/// Largest code representable before the width must grow, for `n_bits`.
fn max_code(n_bits: u32) -> u32 {
    if n_bits == MAX_BITS {
        MAX_MAX_CODE
    } else {
        (1 << n_bits) - 1
    }
}

/// Streaming `.Z` encoder.
pub(super) struct LzwEncoder {
    /// Open-addressed table: `keys[i]` is `(prefix << 8 | byte) + 1`, 0 if empty.
    keys: Box<[u32]>,
    /// `codes[i]` is the code of the string in `keys[i]`.
    codes: Box<[u16]>,
    /// Code of the string matched so far, if any input has been seen.
    prefix: Option<u32>,
    /// Next code to assign.
    free_ent: u32,
    n_bits: u32,
    max_code: u32,
    /// Pending output bits (LSB first) and their count (< 8 between codes).
    bit_buf: u64,
    bit_count: u32,
    /// Codes written in the current group of eight.
    group_codes: u32,
    header_written: bool,
    finished: bool,
}

impl LzwEncoder {
    /// Creates an encoder with an empty table.
    pub(super) fn new() -> Self {
        LzwEncoder {
            keys: vec![0; TABLE_SIZE].into_boxed_slice(),
            codes: vec![0; TABLE_SIZE].into_boxed_slice(),
            prefix: None,
            free_ent: FIRST,
            n_bits: INIT_BITS,
            max_code: max_code(INIT_BITS),
            bit_buf: 0,
            bit_count: 0,
            group_codes: 0,
            header_written: false,
            finished: false,
        }
    }

    /// Finds the slot holding `key`, or the empty slot where it belongs.
    fn slot(&self, key: u32) -> usize {
        let mut i = (key.wrapping_mul(0x9E37_79B1) >> (32 - TABLE_BITS)) as usize;
        while self.keys[i] != 0 && self.keys[i] != key {
            i = (i + 1) & (TABLE_SIZE - 1);
        }
        i
    }

    fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &byte in input {
            let Some(prefix) = self.prefix else {
                self.prefix = Some(u32::from(byte));
                continue;
            };
            let key = ((prefix << 8) | u32::from(byte)) + 1;
            let slot = self.slot(key);
            if self.keys[slot] == key {
                self.prefix = Some(u32::from(self.codes[slot]));
                continue;
            }
            self.put_code(prefix, false, out);
            if self.free_ent < MAX_MAX_CODE {
                self.keys[slot] = key;
                // free_ent < 2^16 here, so it fits.
                self.codes[slot] = self.free_ent as u16;
                self.free_ent += 1;
            } else {
                self.keys.fill(0);
                self.free_ent = FIRST;
                self.put_code(CLEAR, true, out);
            }
            self.prefix = Some(u32::from(byte));
        }
    }

    /// Appends `code` at the current width, then widens (or, after `CLEAR`,
    /// resets) the code size if needed, padding the group as decoders expect.
    fn put_code(&mut self, code: u32, clear: bool, out: &mut Vec<u8>) {
        self.push_bits(code, self.n_bits, out);
        self.group_codes = (self.group_codes + 1) % 8;
        if clear || self.free_ent > self.max_code {
            if self.group_codes != 0 {
                let mut pad = (8 - self.group_codes) * self.n_bits;
                while pad > 0 {
                    let bits = pad.min(MAX_BITS);
                    self.push_bits(0, bits, out);
                    pad -= bits;
                }
                self.group_codes = 0;
            }
            self.n_bits = if clear { INIT_BITS } else { self.n_bits + 1 };
            self.max_code = max_code(self.n_bits);
        }
    }

    /// Appends the low `count` (at most 16) bits of `value`, emitting
    /// completed bytes.
    fn push_bits(&mut self, value: u32, count: u32, out: &mut Vec<u8>) {
        self.bit_buf |= u64::from(value & ((1 << count) - 1)) << self.bit_count;
        self.bit_count += count;
        while self.bit_count >= 8 {
            out.push(self.bit_buf as u8);
            self.bit_buf >>= 8;
            self.bit_count -= 8;
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if let Some(prefix) = self.prefix.take() {
            self.put_code(prefix, false, out);
        }
        if self.bit_count > 0 {
            out.push(self.bit_buf as u8);
            self.bit_buf = 0;
            self.bit_count = 0;
        }
    }
}

impl BodyTransform for LzwEncoder {
    fn transform(&mut self, chunk: Bytes, end: bool) -> Result<Bytes, BodyError> {
        if self.finished {
            return Err(after_end(NAME));
        }
        self.finished = end;
        // Worst case is about two bytes per input byte (16-bit codes).
        let mut out = Vec::with_capacity(chunk.len() * 2 + MAGIC.len() + 64);
        if !self.header_written {
            out.extend_from_slice(&MAGIC);
            self.header_written = true;
        }
        self.encode(&chunk, &mut out);
        if end {
            self.finish(&mut out);
        }
        Ok(Bytes::from(out))
    }
}
