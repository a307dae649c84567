{
  description = "kmodtree: Linux kernel module trees and kmod's databases, for Nix and Guix builders";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { nixpkgs, ... }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "i686-linux"
        "armv7l-linux"
        "riscv64-linux"
      ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      # The package.
      packages = forAll (pkgs: rec {
        kmodtree = pkgs.callPackage ./nix/package.nix { };
        default = kmodtree;
      });

      # pkgs.kmodtree, and nixpkgs' aggregateModules, makeModulesClosure
      # replaced by kmodtree's (same arguments, .override and
      # .overrideAttrs as nixpkgs'); pkgs.kernelManifest for warm
      # aggregates.
      overlays.default = import ./nix/overlay.nix;

      # boot.kmodtree.enable = true: the system's module tree and the
      # initrd's module closure built by kmodtree.
      nixosModules.default = import ./nix/nixos-module.nix;
    };
}
