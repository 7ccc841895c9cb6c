//! Streaming brotli (`br`) encoder on top of the `brotli` crate's low-level
//! encoder state, so that errors at any stage (including finishing) surface
//! instead of being swallowed as `CompressorWriter::into_inner` does.

use brotli::InputReferenceMut;
use brotli::enc::StandardAlloc;
use brotli::enc::encode::{
    BrotliEncoderOperation, BrotliEncoderParameter, BrotliEncoderStateStruct,
};
use brotli::enc::interface::{InputPair, PredictionModeContextMap, StaticCommand};
use bytes::Bytes;

use sluice_policy::{BodyError, BodyTransform};

use super::encoder::after_end;

/// Brotli quality 4: a moderate level, fast enough for on-the-fly compression.
const QUALITY: u32 = 4;
/// log2 of the sliding window (4 MiB).
const LG_WINDOW: u32 = 22;
/// Size of the scratch buffer the encoder writes into.
const SCRATCH: usize = 16 * 1024;

const NAME: &str = "br";

/// Brotli encoding with a flush after each non-empty chunk.
pub(super) struct BrotliEncoder {
    state: BrotliEncoderStateStruct<StandardAlloc>,
    scratch: Box<[u8]>,
    finished: bool,
}

impl BrotliEncoder {
    /// Creates an encoder with moderate quality and a 4 MiB window.
    pub(super) fn new() -> Self {
        let mut state = BrotliEncoderStateStruct::new(StandardAlloc::default());
        state.set_parameter(BrotliEncoderParameter::BROTLI_PARAM_QUALITY, QUALITY);
        state.set_parameter(BrotliEncoderParameter::BROTLI_PARAM_LGWIN, LG_WINDOW);
        BrotliEncoder {
            state,
            scratch: vec![0; SCRATCH].into_boxed_slice(),
            finished: false,
        }
    }

    /// Runs the encoder with `op` until `input` is consumed and, for flush
    /// and finish, until all resulting output has been collected into `out`.
    fn run(
        &mut self,
        op: BrotliEncoderOperation,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), BodyError> {
        let mut available_in = input.len();
        let mut in_offset = 0;
        let mut ignore_metablock = |_: &mut PredictionModeContextMap<InputReferenceMut>,
                                    _: &mut [StaticCommand],
                                    _: InputPair,
                                    _: &mut StandardAlloc| ();
        loop {
            let mut available_out = self.scratch.len();
            let mut out_offset = 0;
            let consumed_before = in_offset;
            let ok = self.state.compress_stream(
                op,
                &mut available_in,
                input,
                &mut in_offset,
                &mut available_out,
                &mut self.scratch,
                &mut out_offset,
                &mut None,
                &mut ignore_metablock,
            );
            out.extend_from_slice(&self.scratch[..out_offset]);
            if !ok {
                return Err(codec_error("encoder rejected the input"));
            }
            let done = available_in == 0
                && match op {
                    BrotliEncoderOperation::BROTLI_OPERATION_FINISH => self.state.is_finished(),
                    _ => !self.state.has_more_output(),
                };
            if done {
                return Ok(());
            }
            if out_offset == 0 && in_offset == consumed_before {
                return Err(codec_error("encoder made no progress"));
            }
        }
    }
}

fn codec_error(message: &'static str) -> BodyError {
    BodyError::Failed(format!("body transform `{NAME}` failed: {message}"))
}

impl BodyTransform for BrotliEncoder {
    fn transform(&mut self, chunk: Bytes, end: bool) -> Result<Bytes, BodyError> {
        if self.finished {
            return Err(after_end(NAME));
        }
        self.finished = end;
        let mut out = Vec::new();
        if end {
            self.run(
                BrotliEncoderOperation::BROTLI_OPERATION_FINISH,
                &chunk,
                &mut out,
            )?;
        } else if !chunk.is_empty() {
            self.run(
                BrotliEncoderOperation::BROTLI_OPERATION_FLUSH,
                &chunk,
                &mut out,
            )?;
        }
        Ok(Bytes::from(out))
    }
}
