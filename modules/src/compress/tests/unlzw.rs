//! A reference `.Z` decoder mirroring gzip's `unlzw.c`, including its
//! code-group padding rules, used to check the encoder.

/// Decodes a complete `.Z` stream.
pub(super) fn unlzw(data: &[u8]) -> Result<Vec<u8>, String> {
    if data.len() < 3 || data[0] != 0x1f || data[1] != 0x9d {
        return Err("bad magic".into());
    }
    let max_bits = u32::from(data[2] & 0x1f);
    let block_mode = data[2] & 0x80 != 0;
    if !(9..=16).contains(&max_bits) {
        return Err(format!("bad max bits {max_bits}"));
    }
    let max_max_code = 1u32 << max_bits;
    let body = &data[3..];
    let total_bits = body.len() * 8;
    let max_code = |n_bits: u32| {
        if n_bits == max_bits {
            max_max_code
        } else {
            (1 << n_bits) - 1
        }
    };

    let mut prefix = vec![0u16; 1 << 16];
    let mut suffix: Vec<u8> = (0..=255u8)
        .chain(std::iter::repeat_n(0, (1 << 16) - 256))
        .collect();
    let mut out = Vec::new();
    let (mut pos, mut epoch) = (0usize, 0usize);
    let mut n_bits = 9u32;
    let mut maxcode = max_code(n_bits);
    let mut free_ent = if block_mode { 257 } else { 256 };
    let mut oldcode: Option<u32> = None;
    let mut finchar = 0u8;
    // Skips to the end of the current group of eight codes.
    let align = |pos: usize, epoch: usize, n_bits: u32| {
        let group = n_bits as usize * 8;
        epoch + (pos - epoch).div_ceil(group) * group
    };
    loop {
        if free_ent > maxcode {
            pos = align(pos, epoch, n_bits);
            epoch = pos;
            n_bits += 1;
            maxcode = max_code(n_bits);
            continue;
        }
        if pos + n_bits as usize > total_bits {
            break;
        }
        let mut code = 0u32;
        for i in 0..n_bits as usize {
            let bit = pos + i;
            code |= u32::from((body[bit / 8] >> (bit % 8)) & 1) << i;
        }
        pos += n_bits as usize;
        let Some(old) = oldcode else {
            if code >= 256 {
                return Err("first code is not a literal".into());
            }
            finchar = code as u8;
            out.push(finchar);
            oldcode = Some(code);
            continue;
        };
        if code == 256 && block_mode {
            free_ent = 256;
            pos = align(pos, epoch, n_bits);
            epoch = pos;
            n_bits = 9;
            maxcode = max_code(n_bits);
            continue;
        }
        let mut stack = Vec::new();
        let mut c = code;
        if code >= free_ent {
            if code > free_ent {
                return Err(format!("code {code} beyond next free {free_ent}"));
            }
            stack.push(finchar);
            c = old;
        }
        while c >= 256 {
            stack.push(suffix[c as usize]);
            c = u32::from(prefix[c as usize]);
        }
        finchar = suffix[c as usize];
        stack.push(finchar);
        out.extend(stack.iter().rev());
        if free_ent < max_max_code {
            prefix[free_ent as usize] = old as u16;
            suffix[free_ent as usize] = finchar;
            free_ent += 1;
        }
        oldcode = Some(code);
    }
    Ok(out)
}
