# A nixpkgs overlay: kmodtree, and nixpkgs' kernel module tree builders
# replaced by kmodtree's, defined as nixpkgs defines its own (callPackage,
# so `.override`, `.overrideAttrs` and passthru behave as nixpkgs'):
#
#   nixpkgs.overlays = [ (import ./kmodtree/nix/overlay.nix) ];
#
# NixOS then builds system.modulesTree with
# `(pkgs.aggregateModules modules).override { name = ...; }` and the initrd's
# modules with `pkgs.makeModulesClosure { ... }`, both from kmodtree.
# `kernelManifest kernel` gives the warm-start manifest of a kernel's tree
# (pass it to aggregateModules' `.override { manifest = ...; }`).
final: prev: {
  kmodtree = final.callPackage ./package.nix { };

  aggregateModules =
    modules:
    final.callPackage ./aggregator.nix {
      inherit modules;
      inherit (final.buildPackages) kmod kmodtree;
    };

  makeModulesClosure =
    args:
    final.callPackage ./modules-closure.nix (
      {
        inherit (final.buildPackages) kmodtree;
      }
      // args
    );

  kernelManifest =
    kernel:
    final.callPackage ./manifest.nix {
      inherit kernel;
      inherit (final.buildPackages) kmodtree;
    };
}
