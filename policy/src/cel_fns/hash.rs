//! `hash.*` digests and their method forms: `hash.sha256(s)`, `s.sha256()`,
//! `hash.sha256(s, 'base64')`, ... on `string` or `bytes` input.

use cel::Env;
use cel::common::types::{BYTES_TYPE, STRING_TYPE, Type};
use crc::{CRC_32_ISO_HDLC, CRC_64_GO_ISO, Crc};
use sha2::Digest;

use crate::cel_fns::RegisterError;
use crate::cel_fns::util::{Args, Ret, bytes_arg, fail, str_arg, string_val};

/// IEEE CRC-32, as Go's `crc32.ChecksumIEEE`.
static CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);
/// ISO 3309 CRC-64, as Go's `crc64.Checksum(data, crc64.MakeTable(crc64.ISO))`, which is what
/// ngrok's `hash.crc64` returns.
static CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_GO_ISO);

/// The digest algorithms, by their CEL method name.
#[derive(Clone, Copy)]
enum Algo {
    Crc32,
    Crc64,
    Md5,
    Sha1,
    Sha256,
    Sha512,
    XxHash64,
}

impl Algo {
    /// The digest of `data`, big-endian for the checksums as Go's `Sum`.
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Algo::Crc32 => CRC32.checksum(data).to_be_bytes().to_vec(),
            Algo::Crc64 => CRC64.checksum(data).to_be_bytes().to_vec(),
            Algo::Md5 => md5::Md5::digest(data).to_vec(),
            Algo::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Algo::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Algo::Sha512 => sha2::Sha512::digest(data).to_vec(),
            Algo::XxHash64 => xxhash_rust::xxh64::xxh64(data, 0).to_be_bytes().to_vec(),
        }
    }
}

/// Hashes argument 0 and formats it as argument 1 asks: `hex` (the default)
/// or `base64`.
fn run<'b, 'v>(args: &Args<'b, 'v>, algo: Algo, function: &str) -> Ret<'b, 'v> {
    let digest = algo.digest(bytes_arg(args, 0)?);
    let format = if args.len() > 1 {
        str_arg(args, 1)?
    } else {
        "hex"
    };
    let out = match format {
        "hex" => hex::encode(&digest),
        "base64" => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(&digest)
        }
        other => {
            return Err(fail(
                function,
                format!("unsupported format '{other}': want 'hex' or 'base64'"),
            ));
        }
    };
    Ok(string_val(out))
}

/// Declares one overload function per algorithm (cel overloads are plain
/// `fn` pointers, so the algorithm can't be captured).
macro_rules! algorithms {
    ($($fn:ident => $algo:ident, $method:literal;)*) => {
        $(
            fn $fn<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
                run(&args, Algo::$algo, concat!("hash.", $method))
            }
        )*
        /// Every algorithm: its method name and its overload.
        const ALGORITHMS: &[(&str, cel::common::functions::Function)] = &[$(($method, $fn)),*];
    };
}

algorithms! {
    crc32 => Crc32, "crc32";
    crc64 => Crc64, "crc64";
    md5_hash => Md5, "md5";
    sha1_hash => Sha1, "sha1";
    sha256 => Sha256, "sha256";
    sha512 => Sha512, "sha512";
    xxhash64 => XxHash64, "xxhash64";
}

/// Registers `hash.<algo>(x[, format])` and `x.<algo>([format])` for `string`
/// and `bytes` input.
pub(crate) fn register(env: &mut Env) -> Result<(), RegisterError> {
    for &(method, op) in ALGORITHMS {
        let global = format!("hash.{method}");
        for (input, input_name) in [(STRING_TYPE, "string"), (BYTES_TYPE, "bytes")] {
            let with_format = |input: &Type| vec![input.to_owned(), STRING_TYPE];
            env.add_overload(
                &global,
                &format!("hash_{method}_{input_name}"),
                vec![input.to_owned()],
                op,
            )?;
            env.add_overload(
                &global,
                &format!("hash_{method}_{input_name}_string"),
                with_format(&input),
                op,
            )?;
            env.add_member_overload(
                method,
                &format!("{input_name}_{method}"),
                input.to_owned(),
                vec![],
                op,
            )?;
            env.add_member_overload(
                method,
                &format!("{input_name}_{method}_string"),
                input,
                vec![STRING_TYPE],
                op,
            )?;
        }
    }
    Ok(())
}
