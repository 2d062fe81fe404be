//! Descriptors over unix sockets (SCM_RIGHTS): a console's pty master from the runtime to
//! the monitor, a client's stdio to the daemon.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

/// Send `fds` with `body` (at least one byte) as the message.
pub fn send_fds(sock: BorrowedFd<'_>, fds: &[RawFd], body: &[u8]) -> nix::Result<()> {
    let cmsg = [ControlMessage::ScmRights(fds)];
    sendmsg::<()>(sock.as_raw_fd(), &[IoSlice::new(body)], &cmsg, MsgFlags::empty(), None).map(drop)
}

/// Receive up to `max` descriptors sent with [`send_fds`] (or by runc/crun); the body (up
/// to 4 KiB) is dropped. ECONNRESET when the peer closed instead.
pub fn recv_fds(sock: BorrowedFd<'_>, max: usize) -> nix::Result<Vec<OwnedFd>> {
    recv_fds_body(sock, max).map(|(fds, _)| fds)
}

/// [`recv_fds`], with the message body (up to 4 KiB).
pub fn recv_fds_body(sock: BorrowedFd<'_>, max: usize) -> nix::Result<(Vec<OwnedFd>, Vec<u8>)> {
    let mut body = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut body)];
    let mut space = nix::cmsg_space!([RawFd; 8]);
    let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    if msg.bytes == 0 {
        return Err(Errno::ECONNRESET);
    }
    let mut out = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // The kernel just installed these descriptors for us; nothing else owns them.
            out.extend(fds.into_iter().map(super::own_fd));
        }
    }
    let len = msg.bytes;
    if out.len() > max {
        return Err(Errno::E2BIG);
    }
    Ok((out, body[..len].to_vec()))
}
