//! Device access rules for a cgroup: `devices.allow`/`devices.deny` lines on v1, an eBPF
//! program of type CGROUP_DEVICE on v2 (the v2 way; runc, crun and LXC do the same).

/// One rule: allow or deny `access` (subset of "rwm") on devices of `kind` ('a', 'b', 'c')
/// with `major`/`minor` (None = any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub kind: char,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: String,
}

impl Rule {
    /// The v1 line: `c 1:3 rwm`, or `a` for every device.
    pub fn v1_line(&self) -> String {
        if self.kind == 'a' {
            return "a".into();
        }
        let n = |x: Option<u32>| x.map(|v| v.to_string()).unwrap_or_else(|| "*".into());
        format!("{} {}:{} {}", self.kind, n(self.major), n(self.minor), self.access)
    }
}

// Kernel ABI of BPF_PROG_TYPE_CGROUP_DEVICE: the context is
// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; },
// access_type = (access << 16) | type.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// One eBPF instruction, as `struct bpf_insn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// The 8 bytes the kernel expects.
    pub fn encode(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

// Opcodes used.
const LDX_W: u8 = 0x61; // r_dst = *(u32 *)(r_src + off)
const MOV64_X: u8 = 0xbf; // r_dst = r_src
const MOV32_K: u8 = 0xb4; // w_dst = imm
const AND32_K: u8 = 0x54; // w_dst &= imm
const RSH32_K: u8 = 0x74; // w_dst >>= imm
const JNE_K: u8 = 0x55; // if r_dst != imm goto +off
const EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, dst, src, off, imm }
}

fn access_mask(access: &str) -> i32 {
    access.chars().fold(0, |m, c| {
        m | match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => 0,
        }
    })
}

/// The program for `rules` with v1 semantics: a later rule overrides an earlier one, and a
/// device no rule matches is denied. Rules are tested from last to first; the first match
/// decides.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    // r2 = type, r3 = access, r4 = major, r5 = minor (r1 = context).
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(MOV64_X, 3, 2, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        let mut checks: Vec<Vec<Insn>> = Vec::new();
        match r.kind {
            'b' => checks.push(vec![insn(JNE_K, 2, 0, 0, DEV_BLOCK)]),
            'c' => checks.push(vec![insn(JNE_K, 2, 0, 0, DEV_CHAR)]),
            _ => {}
        }
        let mask = access_mask(&r.access);
        if mask != ACC_MKNOD | ACC_READ | ACC_WRITE {
            // The requested access must be within the rule's: (access & ~mask) == 0.
            checks.push(vec![insn(MOV64_X, 1, 3, 0, 0), insn(AND32_K, 1, 0, 0, !mask), insn(JNE_K, 1, 0, 0, 0)]);
        }
        if let Some(m) = r.major {
            checks.push(vec![insn(JNE_K, 4, 0, 0, m as i32)]);
        }
        if let Some(m) = r.minor {
            checks.push(vec![insn(JNE_K, 5, 0, 0, m as i32)]);
        }
        let unconditional = checks.is_empty();
        let mut block: Vec<Insn> = checks.into_iter().flatten().collect();
        block.push(insn(MOV32_K, 0, 0, 0, r.allow as i32));
        block.push(insn(EXIT, 0, 0, 0, 0));
        // Every jump skips to the end of this rule's block.
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K {
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
        if unconditional {
            // It matches everything: earlier rules and the default are unreachable, and the
            // kernel's verifier refuses unreachable instructions.
            return p;
        }
    }
    p.push(insn(MOV32_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run `prog` as the kernel would for one device access: 1 = allowed.
    fn run(prog: &[Insn], kind: i32, access: i32, major: u32, minor: u32) -> u64 {
        let ctx = [((access << 16) | kind) as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (d, s) = (i.dst as usize, i.src as usize);
            match i.code {
                LDX_W => r[d] = ctx[i.off as usize / 4] as u64,
                MOV64_X => r[d] = r[s],
                MOV32_K => r[d] = i.imm as u32 as u64,
                AND32_K => r[d] = (r[d] as u32 & i.imm as u32) as u64,
                RSH32_K => r[d] = ((r[d] as u32) >> i.imm) as u64,
                JNE_K => {
                    if r[d] != i.imm as u32 as u64 {
                        pc += i.off as usize;
                    }
                }
                EXIT => return r[0],
                c => panic!("opcode {c:#x}"),
            }
            pc += 1;
        }
    }

    fn rule(allow: bool, kind: char, major: Option<u32>, minor: Option<u32>, access: &str) -> Rule {
        Rule { allow, kind, major, minor, access: access.into() }
    }

    #[test]
    fn lxc_like_rules_allow_the_harmless_devices_only() {
        let rules = vec![
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', None, None, "m"),
            rule(true, 'b', None, None, "m"),
            rule(true, 'c', Some(1), Some(3), "rwm"),
            rule(true, 'c', Some(136), None, "rwm"),
        ];
        let p = program(&rules);
        let rw = ACC_READ | ACC_WRITE;
        assert_eq!(run(&p, DEV_CHAR, rw, 1, 3), 1, "null");
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 136, 7), 1, "any pts");
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 1), 0, "mem");
        assert_eq!(run(&p, DEV_BLOCK, ACC_READ, 8, 0), 0, "sda");
        assert_eq!(run(&p, DEV_BLOCK, ACC_MKNOD, 8, 0), 1, "mknod of anything");
        assert_eq!(run(&p, DEV_CHAR, ACC_MKNOD | ACC_READ, 1, 1), 0, "mknod+read needs both");
    }

    #[test]
    fn later_rules_override_earlier_ones_and_unmatched_is_denied() {
        let p = program(&[rule(true, 'a', None, None, "rwm"), rule(false, 'c', Some(1), Some(1), "rwm")]);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 1), 0);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 3), 1);
        assert_eq!(run(&program(&[]), DEV_CHAR, ACC_READ, 1, 3), 0);
    }

    #[test]
    fn nothing_follows_a_rule_that_matches_everything() {
        let p = program(&[rule(true, 'c', Some(1), Some(3), "rwm"), rule(false, 'a', None, None, "rwm")]);
        assert_eq!(p.iter().filter(|i| i.code == EXIT).count(), 1, "{p:?}");
        assert_eq!(p.last().unwrap().code, EXIT);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 3), 0, "the later deny-all wins");
        // Every jump lands inside the program.
        for (i, ins) in p.iter().enumerate() {
            if ins.code == JNE_K {
                assert!(i + 1 + (ins.off as usize) < p.len());
            }
        }
    }

    #[test]
    fn encodes_like_the_kernel_struct() {
        assert_eq!(insn(LDX_W, 2, 1, 4, 0).encode(), [0x61, 0x12, 4, 0, 0, 0, 0, 0]);
        assert_eq!(insn(JNE_K, 5, 0, 3, 136).encode(), [0x55, 0x05, 3, 0, 136, 0, 0, 0]);
    }

    #[test]
    fn v1_lines() {
        assert_eq!(rule(false, 'a', None, None, "rwm").v1_line(), "a");
        assert_eq!(rule(true, 'c', Some(136), None, "rwm").v1_line(), "c 136:* rwm");
    }
}
