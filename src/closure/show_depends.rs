//! What `modprobe --show-depends` computes, from depmod's `.bin` indexes and
//! the modprobe.d configuration: target resolution (libkmod's lookup chain),
//! the probe list (dependencies in reverse `modules.dep` order, soft
//! dependencies around each module) and the printed actions.
//!
//! The model follows libkmod's: module objects live in a pool keyed by name
//! (or `name\alias` for a module found through an alias), each with its own
//! lazily loaded path and dependency list and its own "visited" mark — so a
//! module reached both by name and through an alias can appear twice, as it
//! does with kmod.

use super::modprobe_config::ModprobeConfig;
use super::{path_of, Message, MessageLevel};
use crate::index::{fnmatch, normalize_alias, Index, IndexError};
use crate::kmod::{basename, modname_normalize, strerror, SharedIoError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const DEP: &str = "modules.dep.bin";
const ALIAS: &str = "modules.alias.bin";
const SYMBOLS: &str = "modules.symbols.bin";
const BUILTIN: &str = "modules.builtin.bin";
const BUILTIN_ALIAS: &str = "modules.builtin.alias.bin";

/// The database files of one module directory that modprobe reads.
#[derive(Clone, Debug, Default)]
pub struct ModuleIndexes {
    /// `BASE/lib/modules/VERSION` as modprobe spells it (absolute, not
    /// normalised): the prefix of every printed path.
    pub dirname: Vec<u8>,
    pub dep: Option<Vec<u8>>,
    pub alias: Option<Vec<u8>>,
    pub symbols: Option<Vec<u8>>,
    pub builtin: Option<Vec<u8>>,
    pub builtin_alias: Option<Vec<u8>>,
}

/// modprobe's module directory for `-d ROOT -S VERSION`: `ROOT/lib/modules/
/// VERSION`, made absolute.
pub fn module_dirname(root: &[u8], version: &[u8]) -> Vec<u8> {
    crate::kmod::absolute_bytes(&[root, b"/lib/modules/", version].concat())
}

impl ModuleIndexes {
    /// Reads the indexes present in `dirname` (missing ones stay `None`).
    pub fn read(dirname: &[u8]) -> ModuleIndexes {
        let read = |name: &str| std::fs::read(path_of(dirname).join(name)).ok();
        ModuleIndexes {
            dirname: dirname.to_vec(),
            dep: read(DEP),
            alias: read(ALIAS),
            symbols: read(SYMBOLS),
            builtin: read(BUILTIN),
            builtin_alias: read(BUILTIN_ALIAS),
        }
    }

    /// The module directory as a path.
    pub fn dir_path(&self) -> PathBuf {
        path_of(&self.dirname).to_path_buf()
    }

    /// The bytes of the index file `name` (one of the constants above).
    fn get(&self, name: &str) -> Option<&[u8]> {
        match name {
            DEP => self.dep.as_deref(),
            ALIAS => self.alias.as_deref(),
            SYMBOLS => self.symbols.as_deref(),
            BUILTIN => self.builtin.as_deref(),
            _ => self.builtin_alias.as_deref(),
        }
    }
}

/// One line modprobe prints.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ProbeAction {
    /// `insmod PATH OPTIONS` (OPTIONS may be empty; the space stays).
    Insmod {
        name: Vec<u8>,
        path: Vec<u8>,
        options: Vec<u8>,
    },
    /// `builtin NAME`.
    Builtin { name: Vec<u8> },
    /// `install COMMAND OPTIONS`: a modprobe.d install command.
    Install {
        name: Vec<u8>,
        command: Vec<u8>,
        options: Vec<u8>,
        /// The module's file, if modules.dep has it (not printed).
        path: Option<Vec<u8>>,
    },
}

impl ProbeAction {
    /// The line as modprobe prints it, with its newline.
    pub fn render(&self) -> Vec<u8> {
        match self {
            ProbeAction::Insmod { path, options, .. } => {
                [&b"insmod "[..], path, b" ", options, b"\n"].concat()
            }
            ProbeAction::Builtin { name } => [&b"builtin "[..], name, b"\n"].concat(),
            ProbeAction::Install {
                command, options, ..
            } => [&b"install "[..], command, b" ", options, b"\n"].concat(),
        }
    }
}

/// Why a target could not be resolved.
///
/// Clone and comparable: the I/O error of [`LookupError::BadPath`] is kept
/// in a [`SharedIoError`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Nothing matched (or the name is not a valid alias).
    #[error("Module {target} not found in directory {dirname}")]
    NotFound { target: String, dirname: String },
    /// A target given as a path that cannot be used (kmod's
    /// `kmod_module_new_from_path` failed with this error).
    #[error(
        "Failed to get module from path {}: {}",
        String::from_utf8_lossy(.path),
        strerror(.source.get())
    )]
    BadPath {
        path: Vec<u8>,
        #[source]
        source: SharedIoError,
    },
}

type ModId = usize;

/// One step of libkmod's lookup chain.
type LookupStep<'a> = fn(&mut Resolver<'a>, &[u8]) -> Vec<ModId>;

/// A module's name and its file's path (`None`: no file).
pub type NameAndPath = (Vec<u8>, Option<Vec<u8>>);

#[derive(Clone, Debug, Default)]
struct ModObj {
    name: Vec<u8>,
    alias: Option<Vec<u8>>,
    path: Option<Vec<u8>>,
    deps_loaded: bool,
    /// Dependencies in reverse modules.dep order (libkmod prepends).
    deps: Vec<ModId>,
    builtin: Option<bool>,
    install_cmd: Option<Option<Vec<u8>>>,
    visited: bool,
    ignorecmd: bool,
}

/// A resolution session: the indexes, the configuration and libkmod's
/// module pool.
///
/// ```no_run
/// use kmodtree::closure::{ModprobeOptions, ProbeAction, Resolver};
///
/// let opts = ModprobeOptions { version: "6.1.0".into(), ..Default::default() };
/// let (indexes, config) = opts.load(&mut Vec::new());
/// let mut r = Resolver::new(&indexes, &config);
/// for action in r.module_load_actions(b"snd-hda-intel", false, None)? {
///     if let ProbeAction::Insmod { path, .. } = action {
///         println!("{}", String::from_utf8_lossy(&path));
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Resolver<'a> {
    indexes: &'a ModuleIndexes,
    config: &'a ModprobeConfig,
    objs: Vec<ModObj>,
    by_key: HashMap<Vec<u8>, ModId>,
    messages: Vec<Message>,
    broken: Vec<Vec<u8>>,
    /// modprobe's `-b`: a blacklisted module is skipped even when named
    /// directly (else only when reached through an alias).
    blacklist_names: bool,
}

impl<'a> Resolver<'a> {
    pub fn new(indexes: &'a ModuleIndexes, config: &'a ModprobeConfig) -> Self {
        Resolver {
            indexes,
            config,
            objs: Vec::new(),
            by_key: HashMap::new(),
            messages: Vec::new(),
            broken: Vec::new(),
            blacklist_names: false,
        }
    }

    /// modprobe's `-b` (`--use-blacklist`): the blacklist applies to
    /// modules given by name too, not only to those an alias resolves to
    /// (libkmod's `KMOD_PROBE_APPLY_BLACKLIST`).
    pub fn use_blacklist(mut self, yes: bool) -> Self {
        self.blacklist_names = yes;
        self
    }

    /// Dependency files that could not be used (missing, or clashing with
    /// a module of the same name): kmod then drops the whole dependency
    /// list of the module that names them, so the output is incomplete.
    pub fn take_broken_dependencies(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.broken)
    }

    /// Messages collected so far (libkmod's, printed by modprobe).
    pub fn take_messages(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.messages)
    }

    fn error(&mut self, text: String) {
        self.messages
            .push(Message::modprobe(MessageLevel::Error, text));
    }

    // ---- index access -------------------------------------------------

    /// `lookup` in the index file `name`, with libkmod's message for an
    /// index it cannot read; `None` for an absent or unreadable index.
    fn in_index<T>(
        &mut self,
        name: &str,
        lookup: impl FnOnce(&Index) -> Result<T, IndexError>,
    ) -> Option<T> {
        match Index::parse(self.indexes.get(name)?).and_then(|i| lookup(&i)) {
            Ok(v) => Some(v),
            // An empty file is what libkmod cannot map: it falls back to
            // opening the file per lookup, which fails without a word.
            Err(IndexError::Empty) => None,
            Err(e) => {
                let dir = String::from_utf8_lossy(&self.indexes.dirname);
                let text = format!("could not read index '{dir}/{name}': {e}");
                self.error(text);
                None
            }
        }
    }

    /// The first value of `key` in the index file `name` (for modules.dep,
    /// libkmod says "could not open moddep file" at debug level only).
    fn exact(&mut self, name: &str, key: &[u8]) -> Option<Vec<u8>> {
        let values = self.in_index(name, |i| i.lookup_exact(key))?;
        values.into_iter().next().map(|v| v.value)
    }

    // ---- the module pool ----------------------------------------------

    fn new_module(&mut self, name: &[u8], alias: Option<&[u8]>) -> ModId {
        let key = match alias {
            Some(a) => [name, b"\\", a].concat(),
            None => name.to_vec(),
        };
        *self.by_key.entry(key).or_insert_with(|| {
            self.objs.push(ModObj {
                name: name.to_vec(),
                alias: alias.map(<[u8]>::to_vec),
                ..Default::default()
            });
            self.objs.len() - 1
        })
    }

    fn new_from_name(&mut self, name: &[u8]) -> ModId {
        self.new_module(&modname_normalize(name), None)
    }

    /// `kmod_module_new_from_path`: the file must exist; a pooled module of
    /// the same name must have the same path.
    fn new_from_path(&mut self, path: &[u8]) -> Result<ModId, std::io::Error> {
        let abspath = crate::kmod::absolute_bytes(path);
        std::fs::metadata(path_of(&abspath))?;
        let name = modname_normalize(basename(path));
        if name.is_empty() {
            return Err(std::io::Error::from_raw_os_error(libc::ENOENT));
        }
        let id = self.new_module(&name, None);
        match &self.objs[id].path {
            None => self.objs[id].path = Some(abspath),
            Some(p) if *p == abspath => {}
            Some(p) => {
                let text = format!(
                    "kmod_module '{}' already exists with different path: new-path='{}' old-path='{}'",
                    String::from_utf8_lossy(&name),
                    String::from_utf8_lossy(&abspath),
                    String::from_utf8_lossy(p)
                );
                self.error(text);
                return Err(std::io::Error::from_raw_os_error(libc::EEXIST));
            }
        }
        self.objs[id].builtin = Some(false);
        Ok(id)
    }

    fn join_dirname(&self, p: &[u8]) -> Vec<u8> {
        if p.first() == Some(&b'/') {
            return p.to_vec();
        }
        [&self.indexes.dirname[..], b"/", p].concat()
    }

    /// `kmod_module_parse_depline`.
    fn parse_depline(&mut self, id: ModId, line: &[u8]) {
        if self.objs[id].deps_loaded {
            return;
        }
        self.objs[id].deps_loaded = true;
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return;
        };
        if self.objs[id].path.is_none() {
            let p = self.join_dirname(&line[..colon]);
            self.objs[id].path = Some(p);
        }
        let mut deps = Vec::new();
        for tok in line[colon + 1..]
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|t| !t.is_empty())
        {
            let path = self.join_dirname(tok);
            match self.new_from_path(&path) {
                Ok(d) => deps.insert(0, d),
                Err(e) => {
                    // kmod prints "ctx=%p path=%s error=%s" and drops the
                    // whole list.
                    let text = format!(
                        "dependency {} of {}: {}",
                        String::from_utf8_lossy(&path),
                        String::from_utf8_lossy(&self.objs[id].name),
                        strerror(&e)
                    );
                    self.error(text);
                    self.broken.push(path);
                    self.objs[id].deps_loaded = false;
                    return;
                }
            }
        }
        self.objs[id].deps = deps;
    }

    fn dependencies(&mut self, id: ModId) -> Vec<ModId> {
        if !self.objs[id].deps_loaded {
            let name = self.objs[id].name.clone();
            if let Some(line) = self.exact(DEP, &name) {
                self.parse_depline(id, &line);
            }
        }
        self.objs[id].deps.clone()
    }

    fn path(&mut self, id: ModId) -> Option<Vec<u8>> {
        if self.objs[id].path.is_none() && !self.objs[id].deps_loaded {
            self.dependencies(id);
        }
        self.objs[id].path.clone()
    }

    fn is_builtin(&mut self, id: ModId) -> bool {
        if let Some(b) = self.objs[id].builtin {
            return b;
        }
        let name = self.objs[id].name.clone();
        let b = self.exact(BUILTIN, &name).is_some();
        self.objs[id].builtin = Some(b);
        b
    }

    fn install_command(&mut self, id: ModId) -> Option<Vec<u8>> {
        let install = &self.config.install;
        let obj = &mut self.objs[id];
        obj.install_cmd
            .get_or_insert_with(|| {
                let c = install.iter().find(|c| fnmatch(&c.module, &obj.name));
                c.map(|c| c.command.clone())
            })
            .clone()
    }

    /// The configured options of the module (by name, or by the alias it
    /// was found through), joined by spaces; `None` when there are none.
    fn options(&self, id: ModId) -> Option<Vec<u8>> {
        let obj = &self.objs[id];
        let opts: Vec<&[u8]> = self
            .config
            .options
            .iter()
            .filter(|o| o.module == obj.name || obj.alias.as_deref() == Some(&o.module[..]))
            .filter(|o| !o.options.is_empty())
            .map(|o| &o.options[..])
            .collect();
        (!opts.is_empty()).then(|| opts.join(&b' '))
    }

    // ---- lookups ------------------------------------------------------

    fn lookup_config_aliases(&mut self, name: &[u8]) -> Vec<ModId> {
        let config = self.config;
        let matching = config.aliases.iter().filter(|a| fnmatch(&a.pattern, name));
        matching
            .map(|a| self.new_module(&a.module, Some(&a.pattern)))
            .collect()
    }

    fn lookup_moddep(&mut self, name: &[u8]) -> Vec<ModId> {
        if name.contains(&b':') {
            return Vec::new();
        }
        let Some(line) = self.exact(DEP, name) else {
            return Vec::new();
        };
        let id = self.new_from_name(name);
        self.parse_depline(id, &line);
        vec![id]
    }

    fn lookup_alias_index(&mut self, index: &str, name: &[u8]) -> Vec<ModId> {
        let values = self.in_index(index, |i| i.lookup_wildcard(name));
        values
            .unwrap_or_default()
            .iter()
            .map(|v| self.new_module(&v.value, Some(name)))
            .collect()
    }

    fn lookup_commands(&mut self, name: &[u8]) -> Vec<ModId> {
        let config = self.config;
        if let Some(c) = config.install.iter().find(|c| c.module == name) {
            let id = self.new_from_name(&c.module);
            self.objs[id].install_cmd = Some(Some(c.command.clone()));
            return vec![id];
        }
        let remove = config.remove.iter().find(|c| c.module == name);
        remove
            .map(|c| self.new_from_name(&c.module))
            .into_iter()
            .collect()
    }

    /// `modules.builtin.bin`, else `modules.builtin.alias.bin`: built-in
    /// modules.
    fn lookup_builtin(&mut self, name: &[u8]) -> Vec<ModId> {
        let found = match self.exact(BUILTIN, name) {
            Some(_) => vec![self.new_from_name(name)],
            None => self.lookup_alias_index(BUILTIN_ALIAS, name),
        };
        for &id in &found {
            self.objs[id].builtin = Some(true);
        }
        found
    }

    /// `kmod_module_new_from_lookup`: the modules a name, alias or
    /// `symbol:` name resolves to, by libkmod's chain (first non-empty step
    /// wins): modprobe.d aliases, module names, symbols, install/remove
    /// commands, `modules.alias.bin`, `modules.builtin.bin`,
    /// `modules.builtin.alias.bin`. `None` for an invalid alias.
    fn lookup(&mut self, given: &[u8]) -> Option<Vec<ModId>> {
        let name = normalize_alias(given)?;
        let steps: [LookupStep<'a>; 6] = [
            Self::lookup_config_aliases,
            Self::lookup_moddep,
            |r, n| match n.starts_with(b"symbol:") {
                true => r.lookup_alias_index(SYMBOLS, n),
                false => Vec::new(),
            },
            Self::lookup_commands,
            |r, n| r.lookup_alias_index(ALIAS, n),
            Self::lookup_builtin,
        ];
        let mut found = steps.into_iter().map(|step| step(self, &name));
        Some(found.find(|f| !f.is_empty()).unwrap_or_default())
    }

    /// The names of the modules `target` resolves to, in modprobe's order
    /// (what `modprobe -R TARGET` prints; duplicates kept).
    pub fn module_names_matching(&mut self, target: &[u8]) -> Result<Vec<Vec<u8>>, LookupError> {
        let ids = self.resolve_target(target)?;
        Ok(ids.iter().map(|&id| self.objs[id].name.clone()).collect())
    }

    /// [`Resolver::module_names_matching`] as `modprobe -R` prints it: one
    /// name a line.
    pub(crate) fn module_names_text(&mut self, target: &[u8]) -> Result<Vec<u8>, LookupError> {
        let names = self.module_names_matching(target)?;
        Ok(names
            .iter()
            .flat_map(|n| [&n[..], b"\n"].concat())
            .collect())
    }

    /// `kmod_module_new_from_lookup` and `kmod_module_get_path` for each
    /// result, as `modinfo NAME` uses them: `(name, path)` per module, the
    /// path `None` when the module has no file (built-in). `None` for an
    /// invalid alias.
    pub fn modules_with_paths(&mut self, target: &[u8]) -> Option<Vec<NameAndPath>> {
        let ids = self.lookup(target)?;
        let each = |id: ModId| {
            let file = self.objs[id].builtin != Some(true);
            let path = file.then(|| self.path(id)).flatten();
            (self.objs[id].name.clone(), path)
        };
        Some(ids.into_iter().map(each).collect())
    }

    fn resolve_target(&mut self, target: &[u8]) -> Result<Vec<ModId>, LookupError> {
        if target.starts_with(b"/") || target.starts_with(b"./") {
            let id = self
                .new_from_path(target)
                .map_err(|e| LookupError::BadPath {
                    path: target.to_vec(),
                    source: e.into(),
                })?;
            return Ok(vec![id]);
        }
        match self.lookup(target) {
            Some(ids) if !ids.is_empty() => Ok(ids),
            _ => Err(LookupError::NotFound {
                target: String::from_utf8_lossy(target).into_owned(),
                dirname: String::from_utf8_lossy(&self.indexes.dirname).into_owned(),
            }),
        }
    }

    // ---- the probe list -----------------------------------------------

    fn lookup_softdep_names(&mut self, names: &[Vec<u8>]) -> Vec<ModId> {
        let mut out = Vec::new();
        for n in names {
            match self.lookup(n) {
                Some(ids) => out.extend(ids),
                None => {
                    let n = String::from_utf8_lossy(n);
                    let text = format!("failed to lookup dependency '{n}', continuing anyway.");
                    self.error(text);
                }
            }
        }
        out
    }

    /// The module wrapped in its soft dependencies (the first softdep line
    /// whose pattern matches its name).
    fn fill_softdep(&mut self, id: ModId, list: &mut Vec<ModId>) {
        let config = self.config;
        let name = &self.objs[id].name;
        let (pre, post) = match config.softdeps.iter().find(|s| fnmatch(&s.module, name)) {
            Some(sd) => (
                self.lookup_softdep_names(&sd.pre),
                self.lookup_softdep_names(&sd.post),
            ),
            None => Default::default(),
        };
        for &p in &pre {
            self.probe_list_into(p, false, list);
        }
        list.push(id);
        self.objs[id].ignorecmd = !pre.is_empty() || !post.is_empty();
        for &p in &post {
            self.probe_list_into(p, false, list);
        }
    }

    fn probe_list_into(&mut self, id: ModId, ignorecmd: bool, list: &mut Vec<ModId>) {
        if self.objs[id].visited {
            return;
        }
        self.objs[id].visited = true;
        for d in self.dependencies(id) {
            self.fill_softdep(d, list);
        }
        if ignorecmd {
            list.push(id);
            self.objs[id].ignorecmd = true;
        } else {
            self.fill_softdep(id, list);
        }
    }

    /// `kmod_module_probe_insert_module` in dry-run mode: what modprobe
    /// prints for one resolved module. `ignore_commands` is modprobe's `-i`.
    fn probe_actions(
        &mut self,
        target: ModId,
        ignore_commands: bool,
        extra: Option<&[u8]>,
    ) -> Vec<ProbeAction> {
        let obj = &self.objs[target];
        if (self.blacklist_names || obj.alias.is_some())
            && self.config.blacklist.contains(&obj.name)
        {
            return Vec::new();
        }
        for o in &mut self.objs {
            o.visited = false;
        }
        let mut list = Vec::new();
        self.probe_list_into(target, ignore_commands, &mut list);
        let mut actions = Vec::new();
        for id in list {
            // libkmod's module_options_concat: the configured options, a
            // space, then the command line's (target only).
            let extra = extra.filter(|_| id == target).unwrap_or_default();
            let options = match self.options(id) {
                Some(o) => [&o[..], b" ", extra].concat(),
                None => extra.to_vec(),
            };
            let name = self.objs[id].name.clone();
            let command = self.install_command(id);
            let command = command.filter(|_| !self.objs[id].ignorecmd);
            actions.push(match (command, self.path(id)) {
                (Some(command), path) => ProbeAction::Install {
                    name,
                    command,
                    options,
                    path,
                },
                (None, Some(path)) => ProbeAction::Insmod {
                    name,
                    path,
                    options,
                },
                (None, None) if self.is_builtin(id) => ProbeAction::Builtin { name },
                (None, None) => continue,
            });
        }
        actions
    }

    /// Everything `modprobe --show-depends TARGET` prints for `target`, in
    /// order: for each module the target resolves to, its dependencies in
    /// reverse `modules.dep` order, each wrapped in its soft dependencies,
    /// then the module itself. `extra_options`: module parameters given on
    /// modprobe's command line (`modprobe -D MODULE PARAM...`), added after
    /// the configured options of each module `target` resolves to.
    pub fn module_load_actions(
        &mut self,
        target: &[u8],
        ignore_commands: bool,
        extra_options: Option<&[u8]>,
    ) -> Result<Vec<ProbeAction>, LookupError> {
        let ids = self.resolve_target(target)?;
        let each = |id| self.probe_actions(id, ignore_commands, extra_options);
        Ok(ids.into_iter().flat_map(each).collect())
    }
}

/// Options of a `show-depends` or `match` run (modprobe's `-d`, `-S`, `-C`).
#[derive(Clone, Debug, Default)]
pub struct ModprobeOptions {
    /// `-d`: the root containing `lib/modules` (default: empty, i.e. `/`).
    pub basedir: Option<PathBuf>,
    /// `-S`: the kernel version.
    pub version: String,
    /// `-C`: configuration files or directories; empty for the default
    /// list (see `host_config`).
    pub config: Vec<PathBuf>,
    /// Without `-C`, read kmod's host directories (`/etc/modprobe.d`, …)
    /// instead of the same directories under the base directory.
    pub host_config: bool,
    /// A file with a kernel command line whose `MODULE.PARAM=VALUE` words
    /// become options (modprobe always reads `/proc/cmdline`).
    pub kernel_cmdline: Option<PathBuf>,
    /// `-i`: ignore install commands.
    pub ignore_commands: bool,
}

impl ModprobeOptions {
    /// Reads the indexes of the module directory (as modprobe spells it)
    /// and the configuration: the `-C` paths, else kmod's directories
    /// (under the base directory unless `host_config`).
    pub fn load(&self, messages: &mut Vec<Message>) -> (ModuleIndexes, ModprobeConfig) {
        use std::os::unix::ffi::OsStrExt;
        let root = self.basedir.as_deref().unwrap_or(Path::new(""));
        let indexes = ModuleIndexes::read(&module_dirname(
            root.as_os_str().as_bytes(),
            self.version.as_bytes(),
        ));
        // kmod's own directories are those under an empty base.
        let paths = match (self.config.is_empty(), self.host_config) {
            (false, _) => self.config.clone(),
            (true, false) => super::modprobe_config::default_config_dirs_under(root),
            (true, true) => super::modprobe_config::default_config_dirs_under(Path::new("")),
        };
        let mut config = ModprobeConfig::load(&paths, &indexes.dir_path(), messages);
        if let Some(f) = &self.kernel_cmdline {
            match std::fs::read(f) {
                Ok(c) => config.add_kernel_cmdline(&c),
                Err(e) => {
                    let (f, e) = (f.display(), strerror(&e));
                    let text = format!("could not read kernel command line {f}: {e}");
                    messages.push(Message::modprobe(MessageLevel::Error, text));
                }
            }
        }
        (indexes, config)
    }
}

/// What a command prints and its exit status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOutcome {
    pub stdout: Vec<u8>,
    pub messages: Vec<Message>,
    pub exit_code: i32,
}

impl RunOutcome {
    /// Resolves each target in turn with `resolve`, as modprobe does: the
    /// resolver's messages, then for a target that failed its error (at
    /// modprobe's log priority: FATAL, or WARNING with `-a`, i.e. when
    /// `several`) and exit status 1. `None` for a target that failed.
    pub(crate) fn each_target<T>(
        &mut self,
        r: &mut Resolver<'_>,
        targets: &[Vec<u8>],
        several: bool,
        mut resolve: impl FnMut(&mut Resolver<'_>, &[u8]) -> Result<T, LookupError>,
    ) -> Vec<Option<T>> {
        let level = if several {
            MessageLevel::Warning
        } else {
            MessageLevel::Fatal
        };
        let mut each = |t: &Vec<u8>| {
            let res = resolve(r, t);
            self.messages.extend(r.take_messages());
            res.map_err(|e| {
                self.messages.push(Message::modprobe(level, e.to_string()));
                self.exit_code = 1;
            })
            .ok()
        };
        targets.iter().map(&mut each).collect()
    }
}

/// `modprobe -d BASE -S VERSION --show-depends TARGET` (several targets:
/// as with `-a`). Byte-identical stdout, kmod's messages and exit status;
/// with the actions of each target as values too.
///
/// ```no_run
/// use kmodtree::closure::{show_depends, ModprobeOptions};
///
/// let opts = ModprobeOptions {
///     basedir: Some("/nix/store/…-linux".into()),
///     version: "6.1.0".into(),
///     ..Default::default()
/// };
/// let (outcome, _per_target) = show_depends(&opts, &[b"ext4".to_vec()]);
/// // insmod /nix/store/…-linux/lib/modules/6.1.0/kernel/lib/crc16.ko.xz …
/// print!("{}", String::from_utf8_lossy(&outcome.stdout));
/// std::process::exit(outcome.exit_code);
/// ```
pub fn show_depends(
    opts: &ModprobeOptions,
    targets: &[Vec<u8>],
) -> (RunOutcome, Vec<TargetActions>) {
    let mut outcome = RunOutcome::default();
    let (indexes, config) = opts.load(&mut outcome.messages);
    let mut r = Resolver::new(&indexes, &config);
    let results = outcome.each_target(&mut r, targets, targets.len() > 1, |r, t| {
        r.module_load_actions(t, opts.ignore_commands, None)
    });
    let per_target: Vec<TargetActions> = targets
        .iter()
        .zip(results)
        .map(|(t, res)| TargetActions {
            target: t.clone(),
            found: res.is_some(),
            actions: res.unwrap_or_default(),
        })
        .collect();
    let actions = per_target.iter().flat_map(|t| &t.actions);
    outcome.stdout = actions.flat_map(ProbeAction::render).collect();
    (outcome, per_target)
}

/// What one target of [`show_depends`] resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetActions {
    pub target: Vec<u8>,
    /// Whether it resolved (modprobe's "not found" otherwise).
    pub found: bool,
    /// The lines printed for it, in order.
    pub actions: Vec<ProbeAction>,
}

/// `modprobe -R ALIAS` for each alias: the names of the modules it
/// resolves to, one per line.
///
/// ```no_run
/// use kmodtree::closure::{match_aliases, ModprobeOptions};
///
/// let opts = ModprobeOptions { version: "6.1.0".into(), ..Default::default() };
/// let outcome = match_aliases(&opts, &[b"pci:v00008086d00001533sv*".to_vec()]);
/// assert_eq!(outcome.stdout, b"igb\n");
/// ```
pub fn match_aliases(opts: &ModprobeOptions, aliases: &[Vec<u8>]) -> RunOutcome {
    let mut outcome = RunOutcome::default();
    let (indexes, config) = opts.load(&mut outcome.messages);
    let mut r = Resolver::new(&indexes, &config);
    let results = outcome.each_target(&mut r, aliases, aliases.len() > 1, |r, a| {
        r.module_names_text(a)
    });
    outcome.stdout = results.into_iter().flatten().flatten().collect();
    outcome
}

/// Reads a device's modalias (e.g. `/sys/devices/…/modalias`): the first
/// line without its newline.
pub fn read_modalias_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let data = std::fs::read(path)?;
    let end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    Ok(data[..end].to_vec())
}
