//! modprobe.d configuration, read the way libkmod (kmod 34) reads it, as far
//! as `modprobe --show-depends` and alias resolution need it: `alias`,
//! `blacklist`, `options`, `install`, `remove`, `softdep` and `weakdep`
//! lines. Nothing else is interpreted; bad lines give libkmod's messages.
//!
//! Files: every configuration path is either a directory (its `*.conf`
//! entries not starting with `.`) or a single file (any non-directory, so
//! `-C /dev/null` is an empty file). The module directory's
//! `modules.softdep` and `modules.weakdep` join the list. All files are then
//! read in ascending byte order of their base names; of several files with
//! the same base name only the first one listed is read.

use super::{path_of, Message};
use crate::index::normalize_alias;
use crate::tree::config::logical_lines;
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `alias PATTERN MODULE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigAlias {
    /// An fnmatch pattern, dashes turned into underscores.
    pub pattern: Vec<u8>,
    pub module: Vec<u8>,
}

/// `options MODULE OPTIONS` (also kernel command line `MODULE.PARAM=VALUE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigOptions {
    pub module: Vec<u8>,
    /// The rest of the line, tabs turned into spaces.
    pub options: Vec<u8>,
}

/// `install MODULE COMMAND` or `remove MODULE COMMAND`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigCommand {
    /// A module name or fnmatch pattern.
    pub module: Vec<u8>,
    pub command: Vec<u8>,
}

/// `softdep MODULE pre: A B post: C`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigSoftdep {
    /// An fnmatch pattern matched against module names.
    pub module: Vec<u8>,
    pub pre: Vec<Vec<u8>>,
    pub post: Vec<Vec<u8>>,
}

/// `weakdep MODULE A B`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWeakdep {
    pub module: Vec<u8>,
    pub deps: Vec<Vec<u8>>,
}

/// Everything read from the configuration, each list in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModprobeConfig {
    pub aliases: Vec<ConfigAlias>,
    pub blacklist: Vec<Vec<u8>>,
    pub options: Vec<ConfigOptions>,
    pub install: Vec<ConfigCommand>,
    pub remove: Vec<ConfigCommand>,
    pub softdeps: Vec<ConfigSoftdep>,
    pub weakdeps: Vec<ConfigWeakdep>,
}

/// The configuration directories kmod reads when no `-C` is given.
pub const KMOD_DEFAULT_CONFIG_DIRS: [&str; 5] = [
    "/etc/modprobe.d",
    "/run/modprobe.d",
    "/usr/local/lib/modprobe.d",
    "/usr/lib/modprobe.d",
    "/lib/modprobe.d",
];

/// kmod's default configuration directories placed under `base` (the
/// hermetic default of kmodtree: a build never reads the host's `/etc`).
pub fn default_config_dirs_under(base: &Path) -> Vec<PathBuf> {
    KMOD_DEFAULT_CONFIG_DIRS
        .iter()
        .map(|d| {
            let mut p = base.as_os_str().to_owned();
            p.push(d);
            PathBuf::from(p)
        })
        .collect()
}

/// The files to read by base name (the sort key); of several files with
/// the same base name, the first one added wins.
type ConfFiles = BTreeMap<Vec<u8>, PathBuf>;

/// Adds the files of one configuration path (file or directory).
fn list_config_path(path: &Path, list: &mut ConfFiles, messages: &mut Vec<Message>) {
    let Ok(meta) = std::fs::metadata(path) else {
        return; // kmod only logs this at debug level
    };
    if !meta.is_dir() {
        let name = path.file_name().unwrap_or(path.as_os_str());
        list.entry(name.as_bytes().to_vec())
            .or_insert_with(|| path.to_path_buf());
        return;
    }
    let Ok(rd) = std::fs::read_dir(path) else {
        let text = format!("could not open directory {}", path.display());
        return messages.push(Message::libkmod_error("conf_files_list", text));
    };
    let mut names: Vec<Vec<u8>> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().as_bytes().to_vec())
        .collect();
    names.sort();
    for name in names {
        if name.starts_with(b".") || name.len() < 6 || !name.ends_with(b".conf") {
            continue;
        }
        let full = path.join(path_of(&name));
        if std::fs::metadata(&full).is_ok_and(|m| m.is_dir()) {
            let (dir, name) = (path.display(), String::from_utf8_lossy(&name));
            let text = format!("Directories inside directories are not supported: {dir}/{name}");
            messages.push(Message::libkmod_error("conf_files_filter_out", text));
            continue;
        }
        list.entry(name).or_insert(full);
    }
}

/// `strtok_r` over spaces and tabs: the next token and the rest after the
/// one delimiter byte that ended it.
fn next_token(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t')?;
    let s = &s[start..];
    match s.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(end) => Some((&s[..end], &s[end + 1..])),
        None => Some((s, &[])),
    }
}

/// The words of `s`, separated by C `isspace` bytes.
fn words(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .filter(|w| !w.is_empty())
}

/// `pre:`/`post:` lists of a softdep line.
fn parse_softdep_lists(s: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut pre, mut post) = (Vec::new(), Vec::new());
    // The list the next word goes to (none before the first label).
    let mut list: Option<&mut Vec<Vec<u8>>> = None;
    for word in words(s) {
        match word {
            b"pre:" => list = Some(&mut pre),
            b"post:" => list = Some(&mut post),
            _ => list.iter_mut().for_each(|l| l.push(word.to_vec())),
        }
    }
    (pre, post)
}

impl ModprobeConfig {
    /// Reads the configuration: `paths` (files or directories, in the order
    /// given, like repeated `-C`), then `module_dir`'s `modules.softdep` and
    /// `modules.weakdep`. Unreadable paths are skipped silently, as kmod
    /// does; bad lines are reported in `messages`.
    pub fn load(
        paths: &[PathBuf],
        module_dir: &Path,
        messages: &mut Vec<Message>,
    ) -> ModprobeConfig {
        let mut files = ConfFiles::new();
        for p in paths {
            list_config_path(p, &mut files, messages);
        }
        for name in ["modules.softdep", "modules.weakdep"] {
            // A missing file is skipped silently.
            list_config_path(&module_dir.join(name), &mut files, messages);
        }
        let mut config = ModprobeConfig::default();
        for path in files.values() {
            if let Ok(data) = std::fs::read(path) {
                config.parse_file(&data, &path.display().to_string(), messages);
            }
        }
        config
    }

    /// Parses one file's bytes; `filename` names it in messages.
    pub fn parse_file(&mut self, data: &[u8], filename: &str, messages: &mut Vec<Message>) {
        for (linenum, line) in logical_lines(data) {
            // C strings: a NUL ends the line.
            let line = &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())];
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let Some((cmd, rest)) = next_token(line) else {
                continue;
            };
            if self.parse_command(cmd, rest).is_some() {
                continue;
            }
            let cmd = String::from_utf8_lossy(cmd);
            let text = if cmd == "include" || cmd == "config" {
                format!("{filename}: command {cmd} is deprecated and not parsed anymore")
            } else {
                format!("{filename} line {linenum}: ignoring bad line starting with '{cmd}'")
            };
            messages.push(Message::libkmod_error("kmod_config_parse", text));
        }
    }

    /// Applies one command; `None` for a bad or unknown line.
    fn parse_command(&mut self, cmd: &[u8], rest: &[u8]) -> Option<()> {
        let (first, value) = next_token(rest)?;
        let module = normalize_alias(first)?;
        match cmd {
            b"alias" => {
                let target = normalize_alias(next_token(value)?.0)?;
                self.aliases.push(ConfigAlias {
                    pattern: module,
                    module: target,
                });
            }
            b"blacklist" => self.blacklist.push(module),
            // The others take the rest of the line (strtok_r(NULL, "", …)),
            // which must not be empty.
            _ if value.is_empty() => return None,
            b"options" => self.options.push(ConfigOptions {
                module,
                options: value
                    .iter()
                    .map(|&b| if b == b'\t' { b' ' } else { b })
                    .collect(),
            }),
            b"install" => self.install.push(ConfigCommand {
                module,
                command: value.to_vec(),
            }),
            b"remove" => self.remove.push(ConfigCommand {
                module,
                command: value.to_vec(),
            }),
            b"softdep" => {
                let (pre, post) = parse_softdep_lists(value);
                self.softdeps.push(ConfigSoftdep { module, pre, post });
            }
            b"weakdep" => self.weakdeps.push(ConfigWeakdep {
                module,
                deps: words(value).map(<[u8]>::to_vec).collect(),
            }),
            _ => return None,
        }
        Some(())
    }

    /// Adds the `MODULE.PARAM[=VALUE]` words of a kernel command line as
    /// options and `modprobe.blacklist=A,B` as blacklist entries, as
    /// libkmod's state machine does with `/proc/cmdline` (kmodtree reads
    /// it only when asked to): words are split at white space outside
    /// quotes; a word with a second `.` before its `=`, or an `=` before
    /// its first `.`, is ignored; a parameter without a value is kept; a
    /// quote may open the word (`"mod.p=a b"`, re-quoted as `p="a b"`) or
    /// the value (`mod.p="a b"`), and anywhere else spoils the word.
    pub fn add_kernel_cmdline(&mut self, cmdline: &[u8]) {
        for (modname, option) in kernel_cmdline_words(cmdline) {
            if modname == b"modprobe" && option.starts_with(b"blacklist=") {
                for m in option[10..].split(|&b| b == b',') {
                    self.blacklist.push(m.to_vec());
                }
            } else {
                let module = normalize_alias(&modname).unwrap_or(modname);
                self.options.push(ConfigOptions {
                    module,
                    options: option,
                });
            }
        }
    }
}

/// libkmod reads at most this many bytes of `/proc/cmdline`
/// (`KCMD_LINE_SIZE` less the terminating NUL).
const KCMD_LINE_MAX: usize = 4095;

/// The `(module, PARAM[=VALUE])` pairs of a kernel command line, in
/// order, by libkmod's `kmod_config_parse_kcmdline` state machine.
pub fn kernel_cmdline_words(cmdline: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum State {
        Ignore,
        Modname,
        Param,
        Value,
    }
    let line = &cmdline[..cmdline.len().min(KCMD_LINE_MAX)];
    let line = &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())];
    let mut out = Vec::new();
    let mut state = State::Modname;
    let mut quoted = false;
    // Offsets into `line`: where the word's module name starts, where its
    // parameter starts (after the '.'); whether a quote opened the word.
    let mut modname = 0usize;
    let mut param = 0usize;
    let mut quote_opened = false;
    for p in 0..=line.len() {
        match line.get(p).copied().unwrap_or(0) {
            b'"' => {
                quoted = !quoted;
                if quoted && state == State::Modname && p == modname {
                    quote_opened = true;
                    modname = p + 1;
                } else if state != State::Value {
                    state = State::Ignore;
                }
            }
            0 | b' ' | b'\n' | b'\t' | 0x0b | 0x0c | b'\r' if !quoted => {
                if state == State::Value || state == State::Param {
                    let name = line[modname..param - 1].to_vec();
                    let mut option = line[param..p].to_vec();
                    if quote_opened {
                        // libkmod moves the quote from before the module
                        // name to the start of the value.
                        if let Some(eq) = option.iter().position(|&b| b == b'=') {
                            option.insert(eq + 1, b'"');
                        }
                    }
                    out.push((name, option));
                }
                modname = p + 1;
                state = State::Modname;
                quote_opened = false;
            }
            // Quoted white space is part of a value, and spoils anything else.
            0 | b' ' | b'\n' | b'\t' | 0x0b | 0x0c | b'\r' if state != State::Value => {
                state = State::Ignore;
            }
            b'.' if state == State::Modname => {
                param = p + 1;
                state = State::Param;
            }
            b'.' if state == State::Param => state = State::Ignore,
            b'=' if state == State::Param => state = State::Value,
            b'=' if state == State::Modname => state = State::Ignore,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_like_libkmod() {
        let mut c = ModprobeConfig::default();
        let mut m = Vec::new();
        c.parse_file(
            b"alias my-alias ext4\nalias\noptions  jbd2   y=2 \noptions ext4\n\
              softdep ext4 pre: a-b  c post: d\n  # x\nweakdep x y\ninclude z\n\
              blacklist snd-pcsp\ninstall m /bin/true $CMDLINE_OPTS\n",
            "f.conf",
            &mut m,
        );
        assert_eq!(c.aliases[0].pattern, b"my_alias");
        assert_eq!(c.options[0].options, b"  y=2 ");
        assert_eq!(c.softdeps[0].pre, vec![b"a-b".to_vec(), b"c".to_vec()]);
        assert_eq!(c.softdeps[0].post, vec![b"d".to_vec()]);
        assert_eq!(c.blacklist, vec![b"snd_pcsp".to_vec()]);
        assert_eq!(c.install[0].command, b"/bin/true $CMDLINE_OPTS");
        let texts: Vec<String> = m.iter().map(|m| m.render()).collect();
        assert_eq!(
            texts,
            vec![
                "libkmod: ERROR: kmod_config_parse: f.conf line 2: ignoring bad line starting with 'alias'\n",
                "libkmod: ERROR: kmod_config_parse: f.conf line 4: ignoring bad line starting with 'options'\n",
                "libkmod: ERROR: kmod_config_parse: f.conf line 6: ignoring bad line starting with '#'\n",
                "libkmod: ERROR: kmod_config_parse: f.conf: command include is deprecated and not parsed anymore\n",
            ]
        );
    }

    #[test]
    fn kernel_cmdline_options() {
        let mut c = ModprobeConfig::default();
        c.add_kernel_cmdline(b"quiet page-reporting.order=11 modprobe.blacklist=a,b x.y\n");
        assert_eq!(
            c.options,
            vec![
                ConfigOptions {
                    module: b"page_reporting".to_vec(),
                    options: b"order=11".to_vec()
                },
                ConfigOptions {
                    module: b"x".to_vec(),
                    options: b"y".to_vec()
                }
            ]
        );
        assert_eq!(c.blacklist, vec![b"a".to_vec(), b"b".to_vec()]);
    }
}
