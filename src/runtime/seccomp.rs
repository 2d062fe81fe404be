//! The spec's seccomp section (`linux.seccomp`), compiled to a classic-BPF filter.
//!
//! What is supported is what a denylist needs: a default action of allow, errno, kill,
//! trap or log; rules naming syscalls with an action of their own, optionally only when
//! arguments match (`SCMP_CMP_EQ`, `SCMP_CMP_MASKED_EQ`, all of them). Syscall names this
//! runtime does not know are skipped, as runc skips names libseccomp does not know; the
//! manager refuses them before they get here. On x86_64, 32-bit (int 0x80) calls are
//! filtered by their own numbers and x32 calls by the 64-bit ones; any other architecture
//! is killed.

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, LinuxSyscall};

use super::{Error, Result};
use crate::sys::mountapi::Insn;

const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_KILL_THREAD: u32 = 0x0000_0000;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_NATIVE: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_NATIVE: u32 = 0xc000_00b7;
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_COMPAT: Option<u32> = Some(0x4000_0003);
#[cfg(not(target_arch = "x86_64"))]
const AUDIT_ARCH_COMPAT: Option<u32> = None;
#[cfg(target_arch = "x86_64")]
const X32_BIT: u32 = 0x4000_0000;

// Offsets in struct seccomp_data.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

fn stmt(code: u32, k: u32) -> Insn {
    Insn { code: code as u16, jt: 0, jf: 0, k }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code: code as u16, jt, jf, k }
}

const LD_W_ABS: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
const JEQ_K: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
const JA: u32 = libc::BPF_JMP | libc::BPF_JA;
const AND_K: u32 = libc::BPF_ALU | libc::BPF_AND | libc::BPF_K;
const RET_K: u32 = libc::BPF_RET | libc::BPF_K;

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<u32> {
    Ok(match a {
        LinuxSeccompAction::ScmpActAllow => RET_ALLOW,
        LinuxSeccompAction::ScmpActErrno => RET_ERRNO | (errno.unwrap_or(libc::EPERM as u32) & 0xffff),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => RET_KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => RET_TRAP,
        LinuxSeccompAction::ScmpActLog => RET_LOG,
        other => return Err(Error::Spec(format!("seccomp action {other:?} is not supported by the builtin runtime"))),
    })
}

/// The instructions of one rule for syscall number `nr`: load the number, and on a match
/// (and every argument matching) return its action; otherwise fall through.
fn rule(out: &mut Vec<Insn>, nr: u32, rule: &LinuxSyscall, compat: bool) -> Result<()> {
    let ret = action(rule.action(), rule.errno_ret())?;
    let mut checks: Vec<Insn> = Vec::new();
    for arg in rule.args().iter().flatten() {
        if arg.index() > 5 {
            return Err(Error::Spec(format!("seccomp: argument index {} out of range", arg.index())));
        }
        let (mask, value) = match arg.op() {
            LinuxSeccompOperator::ScmpCmpEq => (u64::MAX, arg.value()),
            LinuxSeccompOperator::ScmpCmpMaskedEq => (arg.value(), arg.value_two().unwrap_or(0)),
            other => return Err(Error::Spec(format!("seccomp operator {other:?} is not supported by the builtin runtime"))),
        };
        // A 32-bit call's arguments are 32 bits: only the low word counts.
        let words: &[(u32, u32, u32)] = &[
            (OFF_ARGS + 8 * arg.index() as u32 + 4, (mask >> 32) as u32, (value >> 32) as u32),
            (OFF_ARGS + 8 * arg.index() as u32, mask as u32, value as u32),
        ];
        for &(off, m, v) in &words[usize::from(compat)..] {
            checks.push(stmt(LD_W_ABS, off));
            checks.push(stmt(AND_K, m));
            // jf filled below: to the end of this rule.
            checks.push(jump(JEQ_K, v & m, 0, 0));
        }
    }
    // Block: [ld nr][(x32 mask)][jeq nr, 0, skip][checks...][ret]
    let body = checks.len() + 1;
    let n = checks.len();
    for (i, insn) in checks.iter_mut().enumerate() {
        if u32::from(insn.code) == JEQ_K {
            let left = n - i - 1 + 1; // the rest of the checks, then the ret
            insn.jf = u8::try_from(left).map_err(|_| Error::Spec("seccomp rule too long".into()))?;
        }
    }
    out.push(stmt(LD_W_ABS, OFF_NR));
    #[cfg(target_arch = "x86_64")]
    if !compat {
        out.push(stmt(AND_K, !X32_BIT));
    }
    out.push(jump(JEQ_K, nr, 0, u8::try_from(body).map_err(|_| Error::Spec("seccomp rule too long".into()))?));
    out.extend(checks);
    out.push(stmt(RET_K, ret));
    Ok(())
}

/// Compile `sc` to a filter program.
pub fn compile(sc: &LinuxSeccomp) -> Result<Vec<Insn>> {
    if sc.listener_path().is_some() {
        return Err(Error::Spec("seccomp notification (listenerPath) is not supported by the builtin runtime".into()));
    }
    let default = action(sc.default_action(), sc.default_errno_ret())?;
    let mut native = Vec::new();
    let mut compat = Vec::new();
    for r in sc.syscalls().iter().flatten() {
        for name in r.names() {
            let Some((nr, nr32)) = crate::sys::syscalls::lookup(name) else { continue };
            rule(&mut native, nr as u32, r, false)?;
            if nr32 >= 0 {
                rule(&mut compat, nr32 as u32, r, true)?;
            }
        }
    }
    let mut prog = vec![stmt(LD_W_ABS, OFF_ARCH)];
    match AUDIT_ARCH_COMPAT {
        Some(arch32) => {
            // [ld arch][jeq native → native][jeq compat → ja][kill][ja → compat]
            // [native rules][ret default][compat rules][ret default]
            prog.push(jump(JEQ_K, AUDIT_ARCH_NATIVE, 3, 0));
            prog.push(jump(JEQ_K, arch32, 1, 0));
            prog.push(stmt(RET_K, RET_KILL_PROCESS));
            prog.push(stmt(JA, (native.len() + 1) as u32));
            prog.extend(native);
            prog.push(stmt(RET_K, default));
            prog.extend(compat);
            prog.push(stmt(RET_K, default));
        }
        None => {
            prog.push(jump(JEQ_K, AUDIT_ARCH_NATIVE, 1, 0));
            prog.push(stmt(RET_K, RET_KILL_PROCESS));
            prog.extend(native);
            prog.push(stmt(RET_K, default));
        }
    }
    if prog.len() > u16::MAX as usize {
        return Err(Error::Spec("seccomp filter too long".into()));
    }
    Ok(prog)
}

/// Compile and install `sc` for the calling thread (and what it execs).
pub fn install(sc: &LinuxSeccomp) -> Result<()> {
    let prog = compile(sc)?;
    crate::sys::mountapi::install_seccomp(&prog).map_err(|source| Error::Sys { what: "install the seccomp filter", path: "seccomp".into(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run `prog` as the kernel would on one syscall: a classic-BPF interpreter for the
    /// instructions the compiler emits.
    fn run(prog: &[Insn], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = Vec::new();
        data.extend(nr.to_le_bytes());
        data.extend(arch.to_le_bytes());
        data.extend(0u64.to_le_bytes());
        for a in args {
            data.extend(a.to_le_bytes());
        }
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = prog[pc];
            pc += 1;
            match u32::from(i.code) {
                LD_W_ABS => acc = u32::from_le_bytes(data[i.k as usize..i.k as usize + 4].try_into().unwrap()),
                AND_K => acc &= i.k,
                JEQ_K => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
                JA => pc += i.k as usize,
                RET_K => return i.k,
                c => panic!("unexpected instruction {c:#x}"),
            }
        }
    }

    fn profile() -> LinuxSeccomp {
        serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["kexec_load", "open_by_handle_at", "init_module", "no_such_call"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["umount2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                 "args": [{"index": 1, "value": 1, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}]}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn denylist_denies_only_what_it_names() {
        let prog = compile(&profile()).unwrap();
        let eperm = RET_ERRNO | libc::EPERM as u32;
        let native = |nr: libc::c_long, a1: u64| run(&prog, AUDIT_ARCH_NATIVE, nr as u32, [0, a1, 0, 0, 0, 0]);
        assert_eq!(native(libc::SYS_kexec_load, 0), eperm);
        assert_eq!(native(libc::SYS_open_by_handle_at, 0), eperm);
        assert_eq!(native(libc::SYS_init_module, 0), eperm);
        assert_eq!(native(libc::SYS_umount2, libc::MNT_FORCE as u64), eperm, "forced umount");
        assert_eq!(native(libc::SYS_umount2, (libc::MNT_FORCE | libc::MNT_DETACH) as u64), eperm);
        assert_eq!(native(libc::SYS_umount2, libc::MNT_DETACH as u64), RET_ALLOW, "a lazy umount is fine");
        assert_eq!(native(libc::SYS_umount2, 1 << 32), RET_ALLOW, "only the low word holds the flag");
        assert_eq!(native(libc::SYS_read, 0), RET_ALLOW);
        assert_eq!(native(libc::SYS_finit_module, 0), RET_ALLOW, "not in this profile");
        assert_eq!(run(&prog, 0x1234, 0, [0; 6]), RET_KILL_PROCESS, "unknown architecture");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn compat_and_x32_calls_are_filtered_too() {
        let prog = compile(&profile()).unwrap();
        let eperm = RET_ERRNO | libc::EPERM as u32;
        assert_eq!(run(&prog, 0x4000_0003, 283, [0; 6]), eperm, "i386 kexec_load");
        assert_eq!(run(&prog, 0x4000_0003, 52, [0, 1, 0, 0, 0, 0]), eperm, "i386 forced umount");
        assert_eq!(run(&prog, 0x4000_0003, 52, [0, 2, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(run(&prog, 0x4000_0003, 3, [0; 6]), RET_ALLOW, "i386 read");
        assert_eq!(run(&prog, AUDIT_ARCH_NATIVE, X32_BIT | libc::SYS_kexec_load as u32, [0; 6]), eperm, "x32 kexec_load");
    }

    #[test]
    fn unsupported_parts_are_errors() {
        let mut p = profile();
        p.set_default_action(LinuxSeccompAction::ScmpActNotify);
        assert!(compile(&p).is_err());
        let p: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_GT"}]}]
        }))
        .unwrap();
        assert!(compile(&p).is_err());
    }
}
