//! Examples for each command: shown at the end of its `--help` (before
//! the exit statuses) and in the EXAMPLES section of its man page.

/// Each example: `[NAMES] WHAT` (the subcommands it belongs to, `|` between
/// them; `dkms plan` for a nested one), then its command line.
const EXAMPLES: &str = "\
[kmodtree] Write the databases of a tree, as depmod would
kmodtree depmod -b /tmp/root 6.1.0-57-amd64
[kmodtree] Copy the modules an initrd needs (and their firmware)
kmodtree closure -b /tmp/root -o initrd-modules --firmware /lib/firmware 6.1.0-57-amd64 ext4 nvme
[kmodtree] Explain what differs between two trees
kmodtree diff old/lib/modules/6.1.0-57-amd64 new/lib/modules/6.1.0-57-amd64
[depmod] Write every modules.* database of BASE/lib/modules/VERSION
kmodtree depmod -b /tmp/root 6.1.0-57-amd64
[depmod] Print modules.dep instead of writing the databases
kmodtree depmod -b /tmp/root -n 6.1.0-57-amd64
[modinfo] Show a module's fields
kmodtree modinfo ./ext4.ko.xz
[modinfo] Only its license
kmodtree modinfo -F license ./ext4.ko.xz
[modinfo] Every module of a tree as JSON Lines
kmodtree modinfo --tree -b /tmp/root 6.1.0-57-amd64
[dump] Decode an index
kmodtree dump /lib/modules/6.1.0-57-amd64/modules.alias.bin
[dump] Which modules an alias pattern matches
kmodtree dump --wildcard 'usb:v046DpC52B*' modules.alias.bin
[show-depends] The insmod lines of a module and its dependencies
kmodtree show-depends -b /tmp/root 6.1.0-57-amd64 ext4
[match] Which modules a device's alias loads
kmodtree match -b /tmp/root 6.1.0-57-amd64 'pci:v00008086d00001533sv*sd*bc*sc*i*'
[modprobe] What loading ext4 would do in a tree (kmod's modprobe -D)
kmodtree modprobe -d /tmp/root -S 6.1.0-57-amd64 -D ext4
[modprobe] The configuration modprobe.d gives (kmod's modprobe -c)
kmodtree modprobe -c
[closure] Copy ext4 and nvme, their dependencies and firmware into a new tree
kmodtree closure -b /tmp/root -o initrd-modules --firmware /lib/firmware 6.1.0-57-amd64 ext4 nvme
[closure] The same, with load-order, load.sh and unload.sh
kmodtree closure -b /tmp/root -o initrd-modules --load-scripts 6.1.0-57-amd64 ext4
[union] Merge a kernel's modules with an out-of-tree package
kmodtree union merged linux-modules zfs-modules
[make-module-directory] Merge module packages and write fresh databases
kmodtree make-module-directory out 6.1.0-57-amd64 linux-modules zfs-modules
[guix-db] Write Guix's modules.name, modules.alias and modules.devname
kmodtree guix-db initrd/lib/modules
[flat] Guix's initrd folder for ext4 and nvme
kmodtree flat -b /tmp/root initrd-modules 6.1.0-57-amd64 ext4 nvme
[audit] A summary of a tree
kmodtree audit /lib/modules/6.1.0-57-amd64
[audit] Its manifest, to compare later with `kmodtree diff`
kmodtree audit --json /lib/modules/6.1.0-57-amd64 > before.json
[diff] What changed in a tree since its manifest was taken
kmodtree diff before.json /lib/modules/6.1.0-57-amd64
[diff] Two trees
kmodtree diff old/lib/modules/6.1.0-57-amd64 new/lib/modules/6.1.0-57-amd64
[verify] Check that a tree's databases are fresh and its modules loadable
kmodtree verify -b /tmp/root 6.1.0-57-amd64
[dkms|dkms plan] The build plan of a DKMS source folder
kmodtree dkms plan -k 6.1.0-57-amd64 /usr/src/zfs-2.1.11
[dkms build] Build a DKMS source against a kernel's build folder
kmodtree dkms build --kernel-build /usr/src/linux-headers-6.1.0-57-amd64 -k 6.1.0-57-amd64 --out built /usr/src/zfs-2.1.11
[completions] Completions for bash, for this session
source <(kmodtree completions bash)
[completions] For zsh, installed
kmodtree completions zsh > ~/.zfunc/_kmodtree
[man] Read kmodtree's manual page
kmodtree man | man -l -
[man] Write a page per command into a folder
kmodtree man --out share/man/man1
";

/// The examples of subcommand `name` (`dkms plan` for a nested one): what
/// each does, and its command line.
pub fn examples_of(name: &str) -> Vec<(&'static str, &'static str)> {
    let mut lines = EXAMPLES.lines();
    std::iter::from_fn(|| Some((lines.next()?, lines.next()?)))
        .filter_map(|(head, line)| {
            let (names, what) = head.strip_prefix('[')?.split_once("] ")?;
            names.split('|').any(|n| n == name).then_some((what, line))
        })
        .collect()
}

/// The examples as `--help` shows them.
pub fn examples_text(name: &str) -> Option<String> {
    let examples: Vec<String> = examples_of(name)
        .iter()
        .map(|(what, line)| format!("  # {what}\n  {line}"))
        .collect();
    (!examples.is_empty()).then(|| format!("Examples:\n{}", examples.join("\n")))
}
