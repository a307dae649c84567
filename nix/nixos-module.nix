# A NixOS module: one option switching the system's kernel module trees to
# kmodtree. With `boot.kmodtree.enable = true;` the overlay (./overlay.nix)
# is added to nixpkgs.overlays, so NixOS's own calls build them with
# kmodtree: system.modulesTree (`(pkgs.aggregateModules modules).override
# { name = ...; }`) and the initrd's module closure
# (`pkgs.makeModulesClosure { ... }`). Nothing else changes.
#
# With `nixpkgs.pkgs` set (an externally made package set), NixOS ignores
# nixpkgs.overlays: apply ./overlay.nix to that package set instead.
{ config, lib, ... }:

{
  options.boot.kmodtree.enable = lib.mkEnableOption "kmodtree for the kernel module tree and the initrd's module closure";

  config = lib.mkIf config.boot.kmodtree.enable {
    nixpkgs.overlays = [ (import ./overlay.nix) ];
  };
}
