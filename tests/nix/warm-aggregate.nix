# nix/aggregator.nix on a real kernel tree, cold and warm, for
# tests/nix/warm-aggregate-nix.sh (which times the builds):
#   nix-instantiate tests/nix/warm-aggregate.nix --argstr kmodtreeDir DIR \
#     --argstr kernelRoot ROOT -A cold    (or -A warm, -A manifest)
# DIR holds bin/kmodtree; ROOT holds lib/modules/VERSION (imported into the
# store as kernelName, once: the same content gives the same path).
# The aggregate is NixOS's `aggregateModules [ kernel extra ]`, extra being
# one module of the kernel copied under extra/; `warm` is the same with
# `.override { manifest = kernelManifest kernel; }`.
{
  kmodtreeDir,
  kernelRoot,
  kernelName ? "linux-kernel-tree",
}:

let
  kmodtree = builtins.path {
    name = "kmodtree";
    path = /. + kmodtreeDir;
  };
  pkgs = import ./nixpkgs.nix {
    overlays = [
      (import ../../nix/overlay.nix)
      (final: prev: { inherit kmodtree; })
    ];
  };
  kernel = {
    name = kernelName;
    outPath = builtins.path {
      name = kernelName;
      path = /. + kernelRoot;
    };
  };
  extra = pkgs.runCommand "kmt-warm-module" { inherit kernel; } ''
    version=$(ls "$kernel/lib/modules")
    first=$(head -n 1 "$kernel/lib/modules/$version/modules.order")
    for ext in "" .xz .zst .gz; do
      if [ -e "$kernel/lib/modules/$version/$first$ext" ]; then break; fi
    done
    mkdir -p "$out/lib/modules/$version/extra"
    cp "$kernel/lib/modules/$version/$first$ext" "$out/lib/modules/$version/extra/kmt_warm.ko$ext"
  '';
  cold = pkgs.aggregateModules [
    kernel
    extra
  ];
in
{
  inherit cold extra;
  manifest = pkgs.kernelManifest kernel;
  warm = cold.override { manifest = pkgs.kernelManifest kernel; };
}
