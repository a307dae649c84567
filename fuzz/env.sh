# Sourced by run.sh and smoke.sh: picks the toolchain for cargo-fuzz and
# installs cargo-fuzz if it is missing.
#
# cargo-fuzz passes -Zsanitizer=address (and other -Z flags) to rustc, which
# only a nightly toolchain accepts. When rustup has no nightly (and none can
# be downloaded), the stable toolchain is used with RUSTC_BOOTSTRAP=1, which
# makes stable rustc accept unstable flags; the sanitizer runtimes ship with
# stable's standard library too. Set FUZZ_TOOLCHAIN to force one.
if [ -z "${FUZZ_TOOLCHAIN:-}" ]; then
    if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
        FUZZ_TOOLCHAIN=nightly
    else
        FUZZ_TOOLCHAIN=stable
    fi
fi
if [ "$FUZZ_TOOLCHAIN" != nightly ]; then
    export RUSTC_BOOTSTRAP=1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
fuzz_cargo() {
    cargo "+$FUZZ_TOOLCHAIN" fuzz "$@"
}
FUZZ_TARGETS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && cargo fuzz list 2>/dev/null)
# libFuzzer options every run uses: 2 GiB RSS cap (an input needing more is
# a bug: the module image cap while fuzzing is 8 MiB), 10 s per input,
# inputs up to 256 KiB (real modules are larger; the seeds are cut to fit).
FUZZ_OPTS=(-rss_limit_mb=2048 -timeout=10 -max_len=262144 -print_final_stats=1)
