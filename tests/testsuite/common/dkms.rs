//! Helpers for the dkms tests: the kernel headers to build against (or a
//! skip note), small out-of-tree module sources, and running the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The kernel the dkms tests build for: `(version, build folder)`, from
/// `KMODTREE_DKMS_KVER` (default 6.1.0-56-amd64, the kernel of the
/// amd64-6.1-ko fixture tree) and `/usr/src/linux-headers-V`; None (with a
/// note) when the headers, make, gcc or bash are missing.
pub fn kernel() -> Option<(String, PathBuf)> {
    let v = std::env::var("KMODTREE_DKMS_KVER").unwrap_or_else(|_| "6.1.0-56-amd64".into());
    let k = PathBuf::from(format!("/usr/src/linux-headers-{v}"));
    if !k.join("Makefile").is_file() || !k.join("Module.symvers").is_file() {
        eprintln!(
            "note: skipping: no kernel headers at {} (run tests/dkms/setup.sh)",
            k.display()
        );
        return None;
    }
    for tool in ["make", "gcc", "bash", "patch", "strip"] {
        if !has(tool) {
            eprintln!("note: skipping: {tool} not found");
            return None;
        }
    }
    Some((v, k))
}

pub fn has(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kmodtree"))
}

pub fn kmodtree(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run kmodtree")
}

pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

pub fn executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    write(path, text);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// C source of a module `name` with `description`; `body` is extra code.
pub fn module_c(name: &str, description: &str, body: &str) -> String {
    format!(
        r#"#include <linux/module.h>
#include <linux/init.h>
{body}
static int __init {name}_init(void) {{ return 0; }}
static void __exit {name}_exit(void) {{ }}
module_init({name}_init);
module_exit({name}_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("{description}");
"#
    )
}

/// One module `hello` (package hello-1.0).
pub fn one_module(dir: &Path) {
    write(
        &dir.join("hello.c"),
        &module_c(
            "hello",
            "kmodtree dkms test",
            "int hello_value(void) { return 42; }\nEXPORT_SYMBOL_GPL(hello_value);",
        ),
    );
    write(&dir.join("Makefile"), "obj-m := hello.o\n");
    write(
        &dir.join("dkms.conf"),
        "PACKAGE_NAME=\"hello\"\nPACKAGE_VERSION=\"1.0\"\nBUILT_MODULE_NAME[0]=\"hello\"\nDEST_MODULE_LOCATION[0]=\"/updates\"\nAUTOINSTALL=\"yes\"\n",
    );
}

/// Two modules: kmt_base exports kmt_base_value, kmt_user (in a
/// subfolder, installed under another name) uses it (package pair-2.0).
pub fn two_modules(dir: &Path) {
    write(
        &dir.join("kmt_base.c"),
        &module_c(
            "kmt_base",
            "kmodtree base",
            "int kmt_base_value(void) { return 7; }\nEXPORT_SYMBOL_GPL(kmt_base_value);",
        ),
    );
    write(
        &dir.join("user/kmt_user.c"),
        &module_c(
            "kmt_user",
            "kmodtree user",
            "extern int kmt_base_value(void);\nint kmt_user_value(void) { return kmt_base_value() + 1; }\nEXPORT_SYMBOL_GPL(kmt_user_value);",
        ),
    );
    write(&dir.join("Makefile"), "obj-m := kmt_base.o user/\n");
    write(&dir.join("user/Makefile"), "obj-m := kmt_user.o\n");
    write(
        &dir.join("dkms.conf"),
        r#"PACKAGE_NAME="pair"
PACKAGE_VERSION="2.0"
MAKE[0]="make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build modules"
CLEAN="make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build clean"
BUILT_MODULE_NAME[0]="kmt_base"
DEST_MODULE_LOCATION[0]="/extra"
BUILT_MODULE_NAME[1]="kmt_user"
BUILT_MODULE_LOCATION[1]="user"
DEST_MODULE_NAME[1]="kmt_user2"
DEST_MODULE_LOCATION[1]="/extra/pair"
STRIP[1]="no"
"#,
    );
}

/// A package whose patch changes the module's description (patched-1.0).
pub fn patched(dir: &Path) {
    write(
        &dir.join("patched.c"),
        &module_c("patched", "before the patch", ""),
    );
    write(&dir.join("Makefile"), "obj-m := patched.o\n");
    write(
        &dir.join("patches/fix.patch"),
        r#"--- a/patched.c
+++ b/patched.c
@@ -8,2 +8,2 @@
 MODULE_LICENSE("GPL");
-MODULE_DESCRIPTION("before the patch");
+MODULE_DESCRIPTION("after the patch");
"#,
    );
    write(
        &dir.join("dkms.conf"),
        "PACKAGE_NAME=patched\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME[0]=patched\nDEST_MODULE_LOCATION[0]=/updates\nPATCH[0]=fix.patch\nPATCH[1]=never.patch\nPATCH_MATCH[1]='^2\\.4'\n",
    );
}

/// A package for 2.4 kernels only (oldie-0.1).
pub fn exclusive(dir: &Path) {
    write(&dir.join("oldie.c"), &module_c("oldie", "old", ""));
    write(&dir.join("Makefile"), "obj-m := oldie.o\n");
    write(
        &dir.join("dkms.conf"),
        "PACKAGE_NAME=oldie\nPACKAGE_VERSION=0.1\nBUILT_MODULE_NAME[0]=oldie\nDEST_MODULE_LOCATION[0]=/extra\nBUILD_EXCLUSIVE_KERNEL=\"^2\\.4\\.\"\n",
    );
}

/// A GLEP 33 folder: BUILD_PARAMS plus a Makefile with clean, default and
/// install targets.
pub fn glep33(dir: &Path) {
    write(
        &dir.join("g33.c"),
        &module_c(
            "g33",
            "glep 33 module",
            "#ifndef G33_FLAG\n#error BUILD_PARAMS not passed\n#endif",
        ),
    );
    write(
        &dir.join("Makefile"),
        "ifneq ($(KERNELRELEASE),)\nobj-m := g33.o\nccflags-y += $(G33_CFLAGS)\nendif\n\
all:\n\t$(MAKE) -C $(KERNELDIR) M=$(CURDIR) G33_CFLAGS=$(G33_CFLAGS) modules\n\
clean:\n\t$(MAKE) -C $(KERNELDIR) M=$(CURDIR) clean\n\
install:\n\tinstall -D -m 644 g33.ko $(DESTDIR)/lib/modules/$(KV)/extra/g33.ko\n",
    );
    write(&dir.join("BUILD_PARAMS"), "G33_CFLAGS=-DG33_FLAG\n");
}

/// The modinfo pairs of a module file, except the signature's.
pub fn modinfo(path: &Path) -> Vec<(String, String)> {
    let meta = kmodtree::module::read_module_file(
        camino::Utf8Path::from_path(path).unwrap(),
        &kmodtree::module::Limits::default(),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    meta.modinfo
        .iter()
        .map(|e| {
            (
                String::from_utf8_lossy(&e.key).into_owned(),
                String::from_utf8_lossy(&e.value).into_owned(),
            )
        })
        .collect()
}

/// Files under `dir`, relative, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    out.sort();
    out
}
