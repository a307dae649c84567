# Builds kmodtree with a given nixpkgs:
#   nix-build nix/ --arg pkgs 'import /path/to/nixpkgs { }'
#   nix-build nix/ --arg fixtures ../shared/fixtures    # all tests in checkPhase
# Also gives the builders of lib.nix bound to that package:
#   (import ./nix { }).passthru.builders.makeModulesClosure { ... }
{
  nixpkgs ? <nixpkgs>,
  pkgs ? import nixpkgs { },
  fixtures ? null,
}:

let
  kmodtree = pkgs.callPackage ./package.nix { inherit fixtures; };
  builders = pkgs.callPackage ./lib.nix { inherit kmodtree; };
in
kmodtree.overrideAttrs (old: {
  passthru = (old.passthru or { }) // {
    inherit builders;
  };
})
