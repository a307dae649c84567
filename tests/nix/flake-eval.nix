# flake.nix's outputs evaluated without fetching nixpkgs: its nixpkgs input
# is the minimal ./nixpkgs.nix (with a stub rustPlatform whose
# buildRustPackage returns its arguments), and nixosModules.default is
# called with a minimal module-system `lib` (mkEnableOption, mkIf as
# nixpkgs' lib/modules.nix and lib/options.nix shape them).
#   nix-instantiate --eval --strict --json tests/nix/flake-eval.nix
let
  flake = import ../../flake.nix;
  stubs = final: prev: {
    rustPlatform.buildRustPackage = args: args;
    lib = prev.lib // {
      licenses.gpl2Plus = "gpl2Plus";
      platforms.linux = [ "x86_64-linux" ];
      genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
    };
  };
  pkgs = import ./nixpkgs.nix { overlays = [ stubs ]; };
  nixpkgs = {
    inherit (pkgs) lib;
    legacyPackages = builtins.listToAttrs (
      map (s: { name = s; value = pkgs; }) [
        "x86_64-linux"
        "aarch64-linux"
        "i686-linux"
        "armv7l-linux"
        "riscv64-linux"
      ]
    );
  };
  outputs = flake.outputs { inherit nixpkgs; self = outputs; };

  moduleLib = {
    mkEnableOption = name: {
      _type = "option";
      default = false;
      description = "Whether to enable ${name}.";
    };
    mkIf = condition: content: {
      _type = "if";
      inherit condition content;
    };
  };
  module = enable: outputs.nixosModules.default {
    config.boot.kmodtree.enable = enable;
    lib = moduleLib;
  };
  on = module true;
  # The overlay the module adds, applied to the minimal nixpkgs.
  overlaid = import ./nixpkgs.nix { overlays = [ stubs ] ++ on.config.content.nixpkgs.overlays; };
in
{
  description = flake.description;
  packagePname = outputs.packages.x86_64-linux.kmodtree.pname;
  defaultIsKmodtree = outputs.packages.x86_64-linux.default.pname;
  overlayAttrs = builtins.attrNames (outputs.overlays.default pkgs pkgs);
  option = on.options.boot.kmodtree.enable._type;
  optionDefault = on.options.boot.kmodtree.enable.default;
  enabledWhen = on.config.condition;
  offWhen = (module false).config.condition;
  overlays = builtins.length on.config.content.nixpkgs.overlays;
  # aggregateModules from the overlay: kmodtree's (it has a manifest
  # argument), and makeModulesClosure's builtinFirmware.
  aggregatorArgs = builtins.attrNames (pkgs.lib.functionArgs (overlaid.aggregateModules [ ]).override);
  closureArgs = builtins.attrNames (
    pkgs.lib.functionArgs
      (overlaid.makeModulesClosure {
        kernel = "/nonexistent";
        firmware = "/nonexistent";
        rootModules = [ ];
      }).override
  );
}
