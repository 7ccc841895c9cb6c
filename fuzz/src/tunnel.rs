//! Target for what the tunnel reads off the wire: the stream-type prefix and proxy-stream
//! header an agent reads, and the control frames both ends read.

use bytes::BytesMut;
use futures::executor::block_on;
use sluice_tunnel::StreamHeader;
use sluice_tunnel::codec::{
    MAX_HEADER_FRAME, control_codec, decode_control, encode_typed_frame, read_frame,
    read_stream_type,
};
use sluice_tunnel::proto::StreamType;
use tokio_util::codec::Decoder;

/// The bytes as the start of a proxy stream, then as a control stream's frames. A message
/// that decodes must survive an encode/decode round trip unchanged.
pub fn tunnel_frames(data: &[u8]) {
    let mut r = data;
    if block_on(read_stream_type(&mut r)).is_ok() {
        let _ = block_on(read_frame::<_, StreamHeader>(&mut r, MAX_HEADER_FRAME));
    }

    let mut codec = control_codec();
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        let Ok(msg) = decode_control(&frame) else {
            continue;
        };
        let encoded = encode_typed_frame(StreamType::Control, &msg);
        let encoded = encoded.expect("a decoded control message encodes");
        let again = decode_control(&encoded[8..]).expect("an encoded control message decodes");
        assert_eq!(again, msg, "control message round trip");
    }
}
