# kmodtree as a nixpkgs package: `pkgs.callPackage ./package.nix { }`.
#
# The test suite runs in checkPhase. Most integration tests read the shared
# fixture trees; pass them as `fixtures` (a directory like
# ../shared/fixtures) to run every test, otherwise only the tests that do
# not need them run. Tests that compare with kmod, Guile or Nix skip
# themselves with a note when those tools are absent, as in the sandbox.
{
  lib,
  rustPlatform,
  fixtures ? null,
}:

let
  cargoToml = builtins.fromTOML (builtins.readFile ../Cargo.toml);

  # The repository without build products, VCS data or Nix results.
  root = toString ../.;
  src = builtins.path {
    name = "kmodtree-source";
    path = ../.;
    filter =
      path: type:
      let
        rel = builtins.substring (builtins.stringLength root + 1) (-1) (toString path);
        base = baseNameOf (toString path);
      in
      !(
        builtins.elem rel [
          "target"
          ".git"
          "snapshots/.pending"
        ]
        || builtins.substring 0 6 base == "result"
      );
  };

  # The families of the tests/testsuite binary that read the fixtures:
  # skipped without them (the unit tests and the other families run).
  fixtureTests = [
    "audit_incremental"
    "audit_tools"
    "cli_output"
    "closure_copy"
    "closure_show_depends"
    "depmod_determinism"
    "depmod_faults"
    "depmod_fixtures"
    "determinism"
    "dkms_build"
    "dkms_compare"
    "fuzz_corpus"
    "guix_databases"
    "guix_flat"
    "guix_module"
    "index_hostile"
    "index_lookup"
    "index_roundtrip"
    "modinfo_cli"
    "modinfo_fixtures"
    "modinfo_kmod34"
    "modinfo_names"
    "modprobe_parity"
    "module_reader"
    "nix_builders"
    "tree_hostile"
    "union_build"
    "union_make_module_directory"
    "verify_kmod_writer"
  ];
in
rustPlatform.buildRustPackage {
  pname = cargoToml.package.name;
  inherit (cargoToml.package) version;
  inherit src;

  cargoLock.lockFile = ../Cargo.lock;

  doCheck = true;
  cargoTestFlags =
    if fixtures == null then
      [
        "--lib"
        "--bins"
        "--test"
        "testsuite"
      ]
    else
      [ ];
  checkFlags =
    if fixtures == null then
      builtins.concatMap (t: [
        "--skip"
        "${t}::"
      ]) fixtureTests
    else
      [ ];
  # The test hooks (src/output.rs's fault point) exist only in the binary
  # the tests run; the installed one is built without them.
  checkFeatures = [ "failpoints" ];
  preCheck = if fixtures == null then "" else "export KMODTREE_FIXTURES=${fixtures}";

  meta = {
    description = "Assemble Linux kernel module trees and write kmod's modules.* databases, byte-identical and deterministic";
    longDescription = ''
      kmodtree writes every modules.* database of a module tree byte-identical
      to kmod's depmod (kmod 34 or 30), reads modules like modinfo, resolves
      like modprobe --show-depends, and builds the trees Nix and Guix builders
      need: module closures with insmod-list or load scripts, unions of
      module packages with fresh databases, Guix's modules.name/alias/devname
      and flat initrd module folders.
    '';
    license = lib.licenses.gpl2Plus;
    mainProgram = "kmodtree";
    platforms = lib.platforms.linux;
  };
}
