// SPDX-License-Identifier: GPL-2.0-only

//! The numbers of the command lines ([`parse_num`], [`parse_hex`],
//! [`to_u32`]: clap's value parsers in [`crate::cli`], and the journal's
//! fields in `history`), and a tiny hand-written parser ([`Args`]) that only
//! xmc-test still uses.
//!
//! xen-mcelog-dump and xmc-inject parse with clap ([`crate::cli`]), which
//! gives their `--help`, man pages and completions. xmc-test keeps [`Args`]:
//! it is the sandbox's probe helper, not a user's command (no man page, no
//! completion, not packaged); its twenty-odd subcommands take positional
//! operands as the shell cases write them (`read DEV SIZE`, `ioctl DEV
//! 80044D01`, `as-user UID GID -- CMD...`), read in one match in its
//! main.rs. clap would add nothing to it but size in the initramfs.
//!
//! [`Args`]' options are `--name VALUE`, `--name=VALUE` or boolean `--name`;
//! everything else is positional, and `--` ends option parsing.

/// Parsed command line: positionals in order, options by name (with `--`).
#[derive(Debug, Default)]
pub struct Args {
    /// Positional arguments, in order.
    pub pos: Vec<String>,
    opts: Vec<(String, String)>,
    flags: Vec<String>,
}

impl Args {
    /// Parses `argv` (without the program or subcommand name). `valued` lists
    /// the options that take a value, `flags` the boolean ones; any other
    /// `--word` is an error.
    pub fn parse(argv: &[String], valued: &[&str], flags: &[&str]) -> Result<Args, String> {
        let mut a = Args::default();
        let mut it = argv.iter();
        while let Some(arg) = it.next() {
            if arg == "--" {
                a.pos.extend(it.by_ref().cloned());
                break;
            }
            if !arg.starts_with("--") {
                a.pos.push(arg.clone());
                continue;
            }
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (arg.as_str(), None),
            };
            if valued.contains(&name) {
                let v = match inline {
                    Some(v) => v,
                    None => it.next().cloned().ok_or(format!("{name} needs a value"))?,
                };
                a.opts.push((name.to_string(), v));
            } else if flags.contains(&name) && inline.is_none() {
                a.flags.push(name.to_string());
            } else {
                return Err(format!("unknown option {arg}"));
            }
        }
        Ok(a)
    }

    /// Whether boolean option `name` (e.g. `"--force"`) was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    /// The value of option `name`; the last one wins if it was repeated.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Option `name` as a number (see [`parse_num`]), if given.
    pub fn num(&self, name: &str) -> Result<Option<u64>, String> {
        self.opt(name).map(parse_num).transpose()
    }

    /// Option `name` as a number; an error if it is missing.
    pub fn req_num(&self, name: &str) -> Result<u64, String> {
        self.num(name)?.ok_or(format!("{name} is required"))
    }

    /// Positional `i` as a number; an error naming `what` if it is missing.
    pub fn pos_num(&self, i: usize, what: &str) -> Result<u64, String> {
        parse_num(self.pos.get(i).ok_or(format!("missing {what}"))?)
    }

    /// Positional `i` as a string; an error naming `what` if it is missing.
    pub fn pos_str(&self, i: usize, what: &str) -> Result<&str, String> {
        self.pos
            .get(i)
            .map(String::as_str)
            .ok_or(format!("missing {what}"))
    }
}

/// Parses an unsigned number: hexadecimal with a `0x` prefix, else decimal.
pub fn parse_num(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("invalid number '{s}'"))
}

/// Parses a hexadecimal number, with or without a `0x` prefix.
pub fn parse_hex(s: &str) -> Result<u64, String> {
    let h = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    u64::from_str_radix(h, 16).map_err(|_| format!("invalid hex number '{s}'"))
}

/// Narrows a parsed number to `u32`, naming `what` in the error.
pub fn to_u32(v: u64, what: &str) -> Result<u32, String> {
    u32::try_from(v).map_err(|_| format!("{what} {v:#x} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_flags_and_positionals() {
        let a = Args::parse(
            &sv(&["1", "--cpu", "3", "0x9c", "--force", "--mcg=0x5", "x"]),
            &["--cpu", "--mcg"],
            &["--force", "--mce"],
        )
        .unwrap();
        assert_eq!(a.pos, sv(&["1", "0x9c", "x"]));
        assert_eq!(a.req_num("--cpu"), Ok(3));
        assert_eq!(a.num("--mcg"), Ok(Some(5)));
        assert_eq!(a.num("--misc"), Ok(None));
        assert!(a.flag("--force"));
        assert!(!a.flag("--mce"));
        assert_eq!(a.pos_num(1, "STATUS"), Ok(0x9c));
        assert_eq!(a.pos_str(2, "X"), Ok("x"));
        assert!(a.pos_num(3, "ADDR").unwrap_err().contains("missing ADDR"));
    }

    #[test]
    fn errors_and_double_dash() {
        assert!(Args::parse(&sv(&["--bogus"]), &[], &[]).is_err());
        assert!(Args::parse(&sv(&["--cpu"]), &["--cpu"], &[]).is_err());
        assert!(Args::parse(&sv(&["--force=1"]), &[], &["--force"]).is_err());
        let a = Args::parse(&sv(&["a", "--", "--cpu", "b"]), &["--cpu"], &[]).unwrap();
        assert_eq!(a.pos, sv(&["a", "--cpu", "b"]));
        assert!(Args::parse(&sv(&[]), &[], &[])
            .unwrap()
            .req_num("--cpu")
            .is_err());
        let a = Args::parse(&sv(&["--cpu", "1", "--cpu", "2"]), &["--cpu"], &[]).unwrap();
        assert_eq!(a.req_num("--cpu"), Ok(2));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_num("0"), Ok(0));
        assert_eq!(parse_num("42"), Ok(42));
        assert_eq!(parse_num("0x10000000"), Ok(0x1000_0000));
        assert_eq!(parse_num("0XbD000000000000c0"), Ok(0xBD00_0000_0000_00C0));
        assert_eq!(parse_num("0xffffffffffffffff"), Ok(u64::MAX));
        assert!(parse_num("0x").is_err());
        assert!(parse_num("12a").is_err());
        assert!(parse_num("-1").is_err());
        assert!(parse_num("0x1_0000_0000_0000_0000").is_err());
        assert_eq!(parse_hex("80044D01"), Ok(0x8004_4D01));
        assert_eq!(parse_hex("0x80044d03"), Ok(0x8004_4D03));
        assert!(parse_hex("zz").is_err());
        assert_eq!(to_u32(7, "cpu"), Ok(7));
        assert!(to_u32(1 << 32, "cpu").is_err());
    }
}
