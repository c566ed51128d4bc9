//! Socket frames and what they carry: the length prefix the daemon checks before it allocates,
//! and the JSON of PAM and admin requests (and the replies the CLI and module decode).

use postern_proto::admin::{AdminReply, AdminRequest, NewUser};
use postern_proto::frame::{self, MAX_REQUEST_FRAME};
use postern_proto::pam::{PamContext, PamMode, PamReply, PamRequest};
use postern_proto::secret::Secret;

pub fn seeds() -> Vec<Vec<u8>> {
    let context = PamContext {
        service: "sshd".into(),
        user: "alice".into(),
        remote_host: Some("192.0.2.1".into()),
        tty: Some("ssh".into()),
        mode: PamMode::Full,
    };
    let requests = [
        serde_json::to_vec(&PamRequest::Begin(context.clone())),
        serde_json::to_vec(&PamRequest::Account(context)),
        serde_json::to_vec(&PamRequest::Answer {
            text: Secret::new("123456"),
        }),
        serde_json::to_vec(&AdminRequest::Status),
        serde_json::to_vec(&AdminRequest::UserReinvite {
            username: "bob".into(),
            revoke: true,
        }),
        serde_json::to_vec(&AdminRequest::UserAdd(NewUser {
            username: "carol".into(),
            email: "carol@example.com".into(),
            display_name: Some("Carol".into()),
            roles: vec!["staff".into()],
            password: Secret::new("a long password"),
        })),
    ];
    let mut seeds: Vec<Vec<u8>> = requests.into_iter().filter_map(Result::ok).collect();
    // The same, framed, as they cross the socket.
    let framed: Vec<Vec<u8>> = seeds
        .iter()
        .map(|body| {
            let mut frame = (body.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(body);
            frame
        })
        .collect();
    seeds.extend(framed);
    seeds
}

pub const DICTIONARY: &[&[u8]] = &[
    b"\"Begin\"",
    b"\"Answer\"",
    b"\"Account\"",
    b"\"Status\"",
    b"\"UserAdd\"",
    b"\"UserList\"",
    b"\"text\"",
    b"\"mode\"",
    b"\"second_factor\"",
    b"null",
    b"true",
    b"[]",
    b"{}",
    b"1e999",
    b"\"\\u0000\"",
    b"\"\\ud800\"",
];

pub fn run(input: &[u8]) -> Result<(), String> {
    let mut reader = std::io::Cursor::new(input);
    let _ = frame::read_frame::<_, PamRequest>(&mut reader, MAX_REQUEST_FRAME);
    let mut reader = std::io::Cursor::new(input);
    let _ = frame::read_frame::<_, AdminRequest>(&mut reader, MAX_REQUEST_FRAME);
    if let Some(header) = input.get(..4) {
        let header: [u8; 4] = header.try_into().map_err(|_| "four bytes")?;
        if let Ok(len) = frame::body_len(header, MAX_REQUEST_FRAME) {
            if len > MAX_REQUEST_FRAME as usize {
                return Err(format!("body_len let {len} bytes through"));
            }
        }
    }
    let _ = frame::decode_body::<PamRequest>(input);
    let _ = frame::decode_body::<AdminRequest>(input);
    let _ = frame::decode_body::<PamReply>(input);
    let _ = frame::decode_body::<AdminReply>(input);
    Ok(())
}
