//! Framing: the stream-type prefix, length-prefixed JSON frames, and the control-stream codec.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use crate::error::{Result, TunnelError};
use crate::proto::{ControlMessage, StreamType};

/// Largest control frame accepted (a Traffic Policy travels in one).
pub const MAX_CONTROL_FRAME: usize = 1024 * 1024;
/// Largest proxy-stream header accepted.
pub const MAX_HEADER_FRAME: usize = 16 * 1024;

/// A control stream framed as `u32` big-endian length + JSON.
pub type ControlFramed<T> = Framed<T, LengthDelimitedCodec>;

/// The control stream's framing: a `u32` big-endian length, at most [`MAX_CONTROL_FRAME`].
pub fn control_codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(MAX_CONTROL_FRAME)
        .new_codec()
}

/// Wraps an (already typed) control stream in the control codec.
pub fn control_framed<T: AsyncRead + AsyncWrite>(io: T) -> ControlFramed<T> {
    Framed::new(io, control_codec())
}

/// Decodes one control frame (the bytes [`control_codec`] yields) into a message.
pub fn decode_control(frame: &[u8]) -> Result<ControlMessage> {
    Ok(serde_json::from_slice(frame)?)
}

/// Encodes a stream-type prefix followed by one length-prefixed JSON frame.
pub fn encode_typed_frame<M: Serialize>(kind: StreamType, msg: &M) -> Result<Vec<u8>> {
    let body = serde_json::to_vec(msg)?;
    let len =
        u32::try_from(body.len()).map_err(|_| TunnelError::Protocol("frame too large".into()))?;
    let mut buf = Vec::with_capacity(8 + body.len());
    buf.extend_from_slice(&(kind as u32).to_be_bytes());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&body);
    Ok(buf)
}

/// Writes a stream-type prefix.
pub async fn write_stream_type<W: AsyncWrite + Unpin>(w: &mut W, kind: StreamType) -> Result<()> {
    w.write_all(&(kind as u32).to_be_bytes()).await?;
    Ok(())
}

/// Reads a stream-type prefix; unknown types are a protocol error.
pub async fn read_stream_type<R: AsyncRead + Unpin>(r: &mut R) -> Result<StreamType> {
    let v = r.read_u32().await?;
    StreamType::from_u32(v).ok_or_else(|| TunnelError::Protocol(format!("unknown stream type {v}")))
}

/// Reads exactly one length-prefixed JSON frame, without reading past it.
pub async fn read_frame<R, M>(r: &mut R, max: usize) -> Result<M>
where
    R: AsyncRead + Unpin,
    M: DeserializeOwned,
{
    let len = r.read_u32().await? as usize;
    if len > max {
        return Err(TunnelError::Protocol(format!(
            "frame of {len} bytes exceeds {max}"
        )));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok(serde_json::from_slice(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Protocol, StreamHeader};

    #[tokio::test]
    async fn header_frame_roundtrip_leaves_payload() {
        let header = StreamHeader {
            endpoint_url: "tcp://edge:9000".into(),
            client_addr: "192.0.2.1:5555".parse().expect("addr"),
            protocol: Protocol::Tcp,
            tls_terminated: false,
        };
        let mut buf = encode_typed_frame(StreamType::Proxy, &header).expect("encode");
        buf.extend_from_slice(b"payload");
        let mut r = &buf[..];
        assert_eq!(
            read_stream_type(&mut r).await.expect("type"),
            StreamType::Proxy
        );
        let got: StreamHeader = read_frame(&mut r, MAX_HEADER_FRAME).await.expect("frame");
        assert_eq!(got, header);
        assert_eq!(r, b"payload");
    }

    #[tokio::test]
    async fn oversized_frame_is_refused() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&(u32::MAX).to_be_bytes());
        let mut r = &buf[..];
        let err = read_frame::<_, StreamHeader>(&mut r, MAX_HEADER_FRAME).await;
        assert!(matches!(err, Err(TunnelError::Protocol(_))));
    }

    #[tokio::test]
    async fn unknown_stream_type_is_refused() {
        let buf = 77u32.to_be_bytes();
        let mut r = &buf[..];
        assert!(read_stream_type(&mut r).await.is_err());
    }
}
